"""The deployment block's schema, probe markers and cross-field rules."""

import pytest

from pizza_api.deploy.model import DeploymentError, load_deployment, parse_quantity
from pizza_api.spec import load_spec


@pytest.fixture
def spec():
    return load_spec()


def problems_of(spec: dict) -> list[str]:
    with pytest.raises(DeploymentError) as caught:
        load_deployment(spec)
    return caught.value.problems


def test_project_block_loads(spec):
    deployment = load_deployment(spec)
    assert deployment.name == "pizza-api"
    assert deployment.port == 8080
    assert list(deployment.environments) == ["development", "staging", "production"]
    assert deployment.environments["development"].uses_sqlite
    assert deployment.environments["production"].init_migrations
    assert deployment.probes["readiness"].path == "/health/ready"
    assert deployment.probes["readiness"].operation_id == "get_readiness"


def test_bad_values_listed_all_at_once(spec):
    block = spec["x-deployment"]
    block["container"]["port"] = "eighty"
    block["environments"]["staging"]["replicas"] = 0
    block["environments"]["production"]["resources"]["limits"]["memory"] = "lots"
    block["environments"]["production"]["database"]["kind"] = "oracle"
    del block["image"]["tag"]
    problems = problems_of(spec)
    paths = [problem.split(":", 1)[0] for problem in problems]
    assert "x-deployment.container.port" in paths
    assert "x-deployment.environments.staging.replicas" in paths
    assert "x-deployment.environments.production.resources.limits.memory" in paths
    assert "x-deployment.environments.production.database.kind" in paths
    assert "x-deployment.image" in paths
    assert len(problems) == 5, problems


def test_unknown_key_rejected(spec):
    spec["x-deployment"]["environments"]["staging"]["replica"] = 2
    (problem,) = problems_of(spec)
    assert problem.startswith("x-deployment.environments.staging:")
    assert "'replica' was unexpected" in problem


def test_missing_block_rejected(spec):
    del spec["x-deployment"]
    assert problems_of(spec) == ["x-deployment: missing; add the block at the root of the spec"]


def test_readiness_marker_required(spec):
    del spec["paths"]["/health/ready"]["get"]["x-probe"]
    (problem,) = problems_of(spec)
    assert "x-probe: [readiness]" in problem
    assert "found none" in problem


def test_liveness_must_not_report_database(spec):
    # Marking the readiness operation for liveness would restart pods on a database outage.
    spec["paths"]["/health/ready"]["get"]["x-probe"] = ["readiness", "liveness"]
    problems = problems_of(spec)
    assert any(
        p.startswith("paths./health/ready.get.x-probe: a liveness operation must not")
        for p in problems
    ), problems
    assert any(
        "x-probe: [liveness]" in p and "found /health/live, /health/ready" in p for p in problems
    ), problems


def test_readiness_must_document_503(spec):
    # /health always returns 200, so it cannot tell the kubelet that the database is gone.
    spec["paths"]["/health"]["get"]["x-probe"] = ["readiness"]
    problems = problems_of(spec)
    assert any(
        p.startswith("paths./health.get.x-probe: a readiness operation must document")
        for p in problems
    ), problems


def test_bad_marker_value_rejected(spec):
    spec["paths"]["/health/live"]["get"]["x-probe"] = ["liveness", "startup", "warmup"]
    problems = problems_of(spec)
    assert any(
        p.startswith("paths./health/live.get.x-probe.2: 'warmup' is not one of") for p in problems
    ), problems


def test_sqlite_environment_cannot_scale(spec):
    development = spec["x-deployment"]["environments"]["development"]
    development["replicas"] = 2
    development["autoscaling"]["enabled"] = True
    problems = problems_of(spec)
    assert problems == [
        "x-deployment.environments.development.replicas: SQLite environments run 1 replica, not 2",
        "x-deployment.environments.development.autoscaling.enabled: "
        "SQLite environments cannot autoscale",
    ]


def test_postgres_environment_needs_database_secret(spec):
    spec["x-deployment"]["environments"]["production"]["secrets"].remove("DATABASE_URL")
    assert problems_of(spec) == [
        "x-deployment.environments.production.secrets: "
        "a postgres environment needs DATABASE_URL as a secret"
    ]


def test_config_cannot_override_derived_values(spec):
    spec["x-deployment"]["environments"]["staging"]["config"]["APP_PORT"] = "9999"
    spec["x-deployment"]["environments"]["staging"]["config"]["JWT_SECRET"] = "inline"
    problems = problems_of(spec)
    assert problems == [
        "x-deployment.environments.staging.config.APP_PORT: set by the renderer; remove it",
        "x-deployment.environments.staging.config.JWT_SECRET: also listed in secrets; keep one",
    ]


def test_requests_above_limits_rejected(spec):
    resources = spec["x-deployment"]["environments"]["staging"]["resources"]
    resources["requests"]["cpu"] = "2"
    resources["requests"]["memory"] = "1Gi"
    problems = problems_of(spec)
    assert len(problems) == 2, problems
    assert "requests.cpu: 2 is above the limit 1" in problems[0]
    assert "requests.memory: 1Gi is above the limit 384Mi" in problems[1]


def test_parse_quantity():
    assert parse_quantity("250m") == 0.25
    assert parse_quantity("1") == 1
    assert parse_quantity("512Mi") == 512 * 2**20
    with pytest.raises(ValueError):
        parse_quantity("lots")


def test_internal_and_public_paths_cannot_share_a_prefix():
    from pizza_api.deploy.model import DeploymentError, load_deployment
    from pizza_api.spec import load_spec

    spec = load_spec()
    spec["paths"]["/health/metrics"] = {
        "get": {"operationId": "x", "x-internal": True, "responses": {"200": {"description": "ok"}}}
    }
    with pytest.raises(DeploymentError, match="/health holds both public and x-internal"):
        load_deployment(spec)
