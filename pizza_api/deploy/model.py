"""Load the spec's deployment block into one typed model per environment.

`load_deployment` checks the block against `schema.json` and then the rules a JSON
Schema cannot state (probe markers, SQLite limits, clashing variable names). Every
problem is collected first, so one run lists the path of each bad value.
"""

import dataclasses
import functools
import json
import re
from pathlib import Path

import jsonschema

from pizza_api import spec as spec_module
from pizza_api.spec import DEPLOYMENT_KEY, INTERNAL_KEY, PROBE_KEY, iter_operations

SCHEMA_PATH = Path(__file__).with_name("schema.json")
PROBE_KINDS = ("startup", "liveness", "readiness")
PROBE_MARKER_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "uniqueItems": True,
    "items": {"enum": list(PROBE_KINDS)},
}

# Variables the renderer derives from the block. An environment's `config` and
# `secrets` may not set them again.
DERIVED_VARIABLES = ("APP_ENV", "APP_HOST", "APP_PORT", "LOG_LEVEL")
DATABASE_URL = "DATABASE_URL"
# The container listens on every interface so that the kubelet and the Service reach it.
CONTAINER_HOST = "0.0.0.0"


class DeploymentError(ValueError):
    """Invalid deployment block or probe markers, with each problem in `problems`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in the deployment block:\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )


@dataclasses.dataclass(frozen=True)
class Probe:
    """One Kubernetes probe: the marked operation's path and the block's timings."""

    kind: str
    path: str
    operation_id: str
    initial_delay_seconds: int
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int


@dataclasses.dataclass(frozen=True)
class Environment:
    """Everything the templates need to render one environment."""

    name: str
    replicas: int
    resources: dict
    autoscaling: dict
    pod_disruption_budget: dict
    ingress: dict
    log_level: str
    database_kind: str
    storage: str | None
    storage_class_name: str | None
    migrations: str
    config: dict
    secrets: tuple

    @property
    def uses_sqlite(self) -> bool:
        return self.database_kind == "sqlite"

    @property
    def init_migrations(self) -> bool:
        return self.migrations == "initContainer"


@dataclasses.dataclass(frozen=True)
class Deployment:
    """The validated deployment block, with probes resolved from the operations."""

    name: str
    description: str
    image: dict
    port: int
    command: tuple
    migrate_command: tuple
    run_as_user: int
    data_path: str
    sqlite_file: str
    pip_extras: tuple
    image_env: dict
    service_port: int
    probes: dict
    environments: dict
    spec_file: str
    ingress_paths: tuple = ()

    @property
    def image_ref(self) -> str:
        return f"{self.image['repository']}:{self.image['tag']}"

    @property
    def sqlite_url(self) -> str:
        return f"sqlite://{self.data_path}/{self.sqlite_file}"

    def environment_variables(self, env: Environment) -> dict:
        """Return the non-secret variables of `env`, sorted by name."""
        variables = {
            "APP_ENV": env.name,
            "APP_HOST": CONTAINER_HOST,
            "APP_PORT": str(self.port),
            "LOG_LEVEL": env.log_level,
            **env.config,
        }
        if env.uses_sqlite:
            variables[DATABASE_URL] = self.sqlite_url
        return dict(sorted(variables.items()))


def read_spec(path: Path) -> dict:
    """Read the spec at `path` with the runtime's loader, but not from its cache.

    The service caches each spec for the life of the process, while render and check
    must see edits made to the file since then.
    """
    return spec_module._load.__wrapped__(Path(path).resolve())


@functools.cache
def block_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _format_path(prefix: str, parts) -> str:
    return ".".join([prefix, *(str(part) for part in parts)])


def _schema_problems(block: object) -> list[str]:
    validator = jsonschema.Draft202012Validator(block_schema())
    errors = sorted(validator.iter_errors(block), key=lambda error: list(error.absolute_path))
    return [
        f"{_format_path(DEPLOYMENT_KEY, error.absolute_path)}: {error.message}" for error in errors
    ]


def _base_path(spec: dict) -> str:
    """Return the path prefix of the first server URL ('' for '/' or none)."""
    servers = spec.get("servers") or [{"url": "/"}]
    url = servers[0].get("url", "/")
    path = re.sub(r"^[a-z][a-z0-9+.-]*://[^/]*", "", url)
    return path.rstrip("/")


# Routes the service serves outside the spec's paths: Swagger UI and the spec itself.
UNDOCUMENTED_PUBLIC_PATHS = ("/openapi.json", "/swagger")


def _ingress_paths(spec: dict, problems: list[str]) -> tuple:
    """Return the path prefixes the Ingress routes: every first segment of a public path.

    Operations marked `x-internal: true` (such as /metrics) stay reachable inside the
    cluster only. A first segment shared by public and internal paths is a problem,
    because a prefix rule cannot separate them.
    """
    base = _base_path(spec)
    public, internal = set(), set()
    for path, _, operation in iter_operations(spec):
        prefix = base + "/" + path.strip("/").split("/")[0]
        (internal if operation.get(INTERNAL_KEY) else public).add(prefix)
    for prefix in sorted(public & internal):
        problems.append(
            f"paths: {prefix} holds both public and {INTERNAL_KEY} operations; "
            "move the internal ones under another first path segment"
        )
    return tuple(sorted(public | {base + path for path in UNDOCUMENTED_PUBLIC_PATHS}))


def _probe_operations(spec: dict, problems: list[str]) -> dict[str, tuple[str, str]]:
    """Return {kind: (path, operationId)} from the operations' probe markers."""
    marked: dict[str, list[tuple[str, str]]] = {kind: [] for kind in PROBE_KINDS}
    marker_validator = jsonschema.Draft202012Validator(PROBE_MARKER_SCHEMA)
    for path, method, operation in iter_operations(spec):
        if PROBE_KEY not in operation:
            continue
        where = f"paths.{path}.{method}.{PROBE_KEY}"
        marker = operation[PROBE_KEY]
        errors = list(marker_validator.iter_errors(marker))
        for error in errors:
            problems.append(f"{_format_path(where, error.absolute_path)}: {error.message}")
        if errors:
            continue
        if method != "get":
            problems.append(f"{where}: probes send GET requests, but this is a {method} operation")
            continue
        statuses = set(operation.get("responses", {}))
        if "readiness" in marker and "503" not in statuses:
            problems.append(
                f"{where}: a readiness operation must document a 503 response, "
                "so that it can report an unreachable database"
            )
        for kind in ("liveness", "startup"):
            if kind in marker and any(status.startswith("5") for status in statuses):
                problems.append(
                    f"{where}: a {kind} operation must not document a 5xx response; "
                    "a failing dependency would restart healthy pods"
                )
        for kind in marker:
            marked[kind].append((_base_path(spec) + path, operation.get("operationId", "")))
    found = {}
    for kind, operations in marked.items():
        if len(operations) != 1:
            listed = ", ".join(path for path, _ in operations) or "none"
            problems.append(
                f"paths: exactly one GET operation must carry `{PROBE_KEY}: [{kind}]`; "
                f"found {listed}"
            )
        else:
            found[kind] = operations[0]
    return found


def _environment_problems(name: str, env: dict) -> list[str]:
    where = f"{DEPLOYMENT_KEY}.environments.{name}"
    problems = []
    autoscaling = env["autoscaling"]
    if autoscaling["minReplicas"] > autoscaling["maxReplicas"]:
        problems.append(
            f"{where}.autoscaling.minReplicas: {autoscaling['minReplicas']} is above "
            f"maxReplicas {autoscaling['maxReplicas']}"
        )
    database = env["database"]
    if database["kind"] == "sqlite":
        # One SQLite file on a ReadWriteOnce volume serves one pod at a time.
        if env["replicas"] != 1:
            problems.append(
                f"{where}.replicas: SQLite environments run 1 replica, not {env['replicas']}"
            )
        if autoscaling["enabled"]:
            problems.append(f"{where}.autoscaling.enabled: SQLite environments cannot autoscale")
        if DATABASE_URL in env["secrets"]:
            problems.append(f"{where}.secrets: the SQLite DATABASE_URL is derived, not a secret")
    elif DATABASE_URL not in env["secrets"]:
        problems.append(
            f"{where}.secrets: a {database['kind']} environment needs {DATABASE_URL} as a secret"
        )
    for key in sorted(env["config"]):
        if key in DERIVED_VARIABLES or key == DATABASE_URL:
            problems.append(f"{where}.config.{key}: set by the renderer; remove it")
        elif key in env["secrets"]:
            problems.append(f"{where}.config.{key}: also listed in secrets; keep one")
    for secret in env["secrets"]:
        if secret in DERIVED_VARIABLES:
            problems.append(f"{where}.secrets: {secret} is set by the renderer; remove it")
    for kind in ("cpu", "memory"):
        request = parse_quantity(env["resources"]["requests"][kind])
        limit = parse_quantity(env["resources"]["limits"][kind])
        if request > limit:
            problems.append(
                f"{where}.resources.requests.{kind}: {env['resources']['requests'][kind]} is "
                f"above the limit {env['resources']['limits'][kind]}"
            )
    return problems


_UNITS = {"m": 0.001, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def parse_quantity(quantity: str) -> float:
    """Return a Kubernetes quantity such as `250m` or `512Mi` as a number."""
    match = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|Ti)?", quantity)
    if not match:
        raise ValueError(f"invalid quantity {quantity!r}")
    number, unit = match.groups()
    return float(number) * _UNITS.get(unit, 1)


def load_deployment(spec: dict, spec_file: str = "openapi.yaml") -> Deployment:
    """Validate the block and the probe markers of `spec` and return the typed model.

    Raises DeploymentError listing every problem found.
    """
    if DEPLOYMENT_KEY not in spec:
        raise DeploymentError([f"{DEPLOYMENT_KEY}: missing; add the block at the root of the spec"])
    block = spec[DEPLOYMENT_KEY]
    problems = _schema_problems(block)
    probe_operations = _probe_operations(spec, problems)
    ingress_paths = _ingress_paths(spec, problems)
    if problems:
        # Later rules read fields the schema has not vouched for yet.
        raise DeploymentError(problems)
    for name, env in block["environments"].items():
        problems.extend(_environment_problems(name, env))
    if problems:
        raise DeploymentError(problems)

    container = block["container"]
    probes = {}
    for kind in PROBE_KINDS:
        path, operation_id = probe_operations[kind]
        timing = block["probes"][kind]
        probes[kind] = Probe(
            kind=kind,
            path=path,
            operation_id=operation_id,
            initial_delay_seconds=timing.get("initialDelaySeconds", 0),
            period_seconds=timing["periodSeconds"],
            timeout_seconds=timing["timeoutSeconds"],
            failure_threshold=timing["failureThreshold"],
        )
    environments = {
        name: Environment(
            name=name,
            replicas=env["replicas"],
            resources=env["resources"],
            autoscaling=env["autoscaling"],
            pod_disruption_budget=env["podDisruptionBudget"],
            ingress=env["ingress"],
            log_level=env["logLevel"],
            database_kind=env["database"]["kind"],
            storage=env["database"].get("storage"),
            storage_class_name=env["database"].get("storageClassName"),
            migrations=env["database"]["migrations"],
            config=dict(sorted(env["config"].items())),
            secrets=tuple(env["secrets"]),
        )
        for name, env in block["environments"].items()
    }
    return Deployment(
        name=block["name"],
        description=block.get("description", ""),
        image=block["image"],
        port=container["port"],
        command=tuple(container["command"]),
        migrate_command=tuple(container["migrateCommand"]),
        run_as_user=container["runAsUser"],
        data_path=container["dataPath"],
        sqlite_file=container["sqliteFile"],
        pip_extras=tuple(container.get("pipExtras", ())),
        image_env=dict(sorted(container.get("env", {}).items())),
        service_port=block["service"]["port"],
        probes=probes,
        environments=environments,
        spec_file=spec_file,
        ingress_paths=ingress_paths,
    )
