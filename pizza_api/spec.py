"""Load openapi.yaml once and index what the runtime needs from it.

The service and the deployment renderer read the spec through `load_spec`, so a
route, a port or a probe has one definition. The spec the service publishes drops
the deployment block, which is for the renderer only.
"""

import copy
import dataclasses
import functools
import os
import re
import typing as t
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC_PATH = PROJECT_ROOT / "openapi.yaml"
DEPLOYMENT_KEY = "x-deployment"
# Operation-level marker naming the Kubernetes probes an operation serves.
PROBE_KEY = "x-probe"
# Operation-level marker: reachable inside the cluster only, never routed by the Ingress.
INTERNAL_KEY = "x-internal"
DEPLOYMENT_OPERATION_KEYS = (PROBE_KEY, INTERNAL_KEY)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def spec_path() -> Path:
    return Path(os.environ.get("PIZZA_API_SPEC", DEFAULT_SPEC_PATH))


@functools.lru_cache(maxsize=8)
def _load(path: Path) -> dict:
    with open(path, encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def load_spec(path: Path | None = None) -> dict:
    """Return a deep copy of the whole spec, deployment block included."""
    return copy.deepcopy(_load(Path(path or spec_path()).resolve()))


def published_spec(spec: dict) -> dict:
    """Return the spec as clients see it: without the deployment block and markers."""
    published = {key: value for key, value in spec.items() if key != DEPLOYMENT_KEY}
    published["paths"] = {
        path: {
            method: (
                {k: v for k, v in operation.items() if k not in DEPLOYMENT_OPERATION_KEYS}
                if isinstance(operation, dict)
                else operation
            )
            for method, operation in item.items()
        }
        for path, item in spec.get("paths", {}).items()
    }
    return published


@dataclasses.dataclass(frozen=True)
class Operation:
    """What the runtime needs to know of one operation."""

    operation_id: str
    resolved_id: str
    method: str
    path: str
    tags: tuple
    required_role: str | None
    consumes: tuple = ()

    @property
    def style(self) -> str:
        """The error style of the operation: pizzas, oauth or codes."""
        if "pizzas" in self.tags:
            return "pizzas"
        if "oauth" in self.tags:
            return "oauth"
        return "codes"


def iter_operations(spec: dict) -> t.Iterator[tuple[str, str, dict]]:
    """Yield (path, method, operation) for every operation in `spec`."""
    for path, item in spec.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


class SpecIndex:
    """Operations by id, and a matcher from (method, path) to the documented operation.

    The error boundary runs outside Connexion's routing, so it finds the operation
    of a request by matching the path against the spec's path templates itself.
    """

    def __init__(self, spec: dict) -> None:
        self.operations: dict[str, Operation] = {}
        by_path: dict[str, dict[str, Operation]] = {}
        for path, method, operation in iter_operations(spec):
            controller = operation.get("x-openapi-router-controller")
            operation_id = operation["operationId"]
            resolved = f"{controller}.{operation_id}" if controller else operation_id
            entry = Operation(
                operation_id=operation_id,
                resolved_id=resolved,
                method=method.upper(),
                path=path,
                tags=tuple(operation.get("tags", ())),
                required_role=operation.get("x-required-role"),
                consumes=tuple(operation.get("requestBody", {}).get("content", {})),
            )
            self.operations[operation_id] = entry
            by_path.setdefault(path, {})[entry.method] = entry
        self._paths = [
            (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), methods)
            for path, methods in by_path.items()
        ]

    def _methods(self, path: str) -> dict[str, Operation]:
        for pattern, methods in self._paths:
            if pattern.match(path):
                return methods
        return {}

    def match(self, method: str, path: str) -> Operation | None:
        """Return the operation documented for this method and path, if any."""
        methods = self._methods(path)
        return methods.get(method.upper()) or (
            methods.get("GET") if method.upper() == "HEAD" else None
        )

    def operation_for(self, scope: dict) -> Operation | None:
        return self.match(scope.get("method", ""), scope.get("path", ""))

    def allowed_methods(self, path: str) -> list[str]:
        return list(self._methods(path))
