"""Check the spec, its handlers and the committed rendered files.

`run_checks` returns a list of problems. An empty list means that the spec is valid,
that every operation resolves to a function, and that the rendered files match a
fresh render.
"""

import contextlib
import importlib
import sys
import tempfile
from pathlib import Path

from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from pizza_api.deploy.model import DeploymentError, load_deployment, read_spec
from pizza_api.deploy.render import GENERATED_DIR, render_files, write_files
from pizza_api.spec import iter_operations


@contextlib.contextmanager
def _importable_from(directory: Path):
    """Put `directory` first on sys.path while resolving handlers of a spec kept there."""
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path.remove(str(directory))


def spec_problems(spec: dict) -> list[str]:
    try:
        validate_openapi(spec)
    except OpenAPIValidationError as exc:
        location = ".".join(str(part) for part in exc.path) or "(root)"
        return [f"openapi: {location}: {exc.message}"]
    return []


def handler_problems(spec: dict, spec_dir: Path) -> list[str]:
    """Return one problem per operationId that does not resolve to a callable."""
    problems = []
    with _importable_from(spec_dir):
        for path, method, operation in iter_operations(spec):
            operation_id = operation.get("operationId")
            where = f"paths.{path}.{method}"
            if not operation_id:
                problems.append(f"{where}: operationId is missing")
                continue
            controller = operation.get("x-openapi-router-controller")
            target = f"{controller}.{operation_id}" if controller else operation_id
            module_name, _, function_name = target.rpartition(".")
            if not module_name:
                problems.append(f"{where}: operationId {target!r} names no module")
                continue
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                problems.append(f"{where}: cannot import {module_name}: {exc}")
                continue
            if not callable(getattr(module, function_name, None)):
                problems.append(f"{where}: {module_name} has no function {function_name}")
    return problems


def drift_problems(files: dict[str, str], project_dir: Path, chart_name: str) -> list[str]:
    """Compare committed files with a fresh render written to a temporary directory.

    Reports rendered files that are missing or changed, and extra files under
    generated/ or extra values files in the chart that no render produces.
    """
    problems = []
    with tempfile.TemporaryDirectory(prefix="render-") as scratch:
        fresh_dir = Path(scratch)
        write_files(files, fresh_dir)
        for relative in files:
            committed = project_dir / relative
            if not committed.is_file():
                problems.append(f"missing: {relative}")
            elif committed.read_bytes() != (fresh_dir / relative).read_bytes():
                problems.append(f"changed: {relative}")
    owned = list((project_dir / GENERATED_DIR).rglob("*"))
    chart_dir = project_dir / "charts" / chart_name
    owned += [*chart_dir.glob("values*.yaml"), *chart_dir.glob("values*.json")]
    for path in sorted(owned):
        relative = path.relative_to(project_dir).as_posix()
        if path.is_file() and relative not in files:
            problems.append(f"extra: {relative}")
    return problems


def run_checks(spec_path: Path, project_dir: Path | None = None) -> list[str]:
    """Return every problem found in the spec at `spec_path` and its rendered files."""
    spec_path = Path(spec_path).resolve()
    project_dir = Path(project_dir or spec_path.parent)
    spec = read_spec(spec_path)
    problems = spec_problems(spec)
    problems += handler_problems(spec, spec_path.parent)
    try:
        deployment = load_deployment(spec, spec_file=spec_path.name)
    except DeploymentError as exc:
        return problems + exc.problems
    files = render_files(deployment)
    stale = drift_problems(files, project_dir, deployment.name)
    if stale:
        stale.append("render again with `pizza-api render` and commit the result")
    return problems + stale
