"""`pizza-api render` and `pizza-api check` on the project and on edited copies."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pizza_api.deploy.check import run_checks
from pizza_api.deploy.render import previous_files, render
from tests.deploy.conftest import PROJECT_ROOT, copy_chart, yaml_documents


def pizza_api(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pizza_api.cli", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def spec_copy(directory: Path) -> tuple[Path, dict]:
    """Copy openapi.yaml into `directory`; return its path and the parsed spec."""
    path = directory / "openapi.yaml"
    shutil.copyfile(PROJECT_ROOT / "openapi.yaml", path)
    return path, yaml.safe_load(path.read_text())


def write_spec(path: Path, spec: dict) -> None:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def read_rendered(directory: Path) -> dict[str, str]:
    """Return {path: text} of the files that MANIFEST lists, and MANIFEST itself."""
    paths = ["generated/MANIFEST", *previous_files(directory)]
    return {path: (directory / path).read_text() for path in paths}


def test_check_passes_on_committed_tree():
    result = pizza_api("check")
    assert result.returncode == 0, result.stderr
    assert "check passed" in result.stdout


def test_check_names_hand_edited_file(tmp_path):
    spec_path, _ = spec_copy(tmp_path)
    render(spec_path)
    edited = tmp_path / "generated/k8s/production/deployment.yaml"
    edited.write_text(edited.read_text().replace("cpu: 250m", "cpu: 500m"))
    (tmp_path / "generated/k8s/production/notes.yaml").write_text("kind: Note\n")
    (tmp_path / "generated/env/staging.env").unlink()

    result = pizza_api("check", "--spec", str(spec_path))
    assert result.returncode == 1
    assert "changed: generated/k8s/production/deployment.yaml" in result.stderr
    assert "extra: generated/k8s/production/notes.yaml" in result.stderr
    assert "missing: generated/env/staging.env" in result.stderr
    assert "changed: generated/MANIFEST" not in result.stderr


def test_check_selects_spec_from_environment(tmp_path):
    spec_path, _ = spec_copy(tmp_path)
    result = pizza_api("check", env={"PIZZA_API_SPEC": str(spec_path)})
    assert result.returncode == 1
    assert "missing: generated/MANIFEST" in result.stderr
    assert "missing: charts/pizza-api/values.yaml" in result.stderr


def test_check_lists_bad_spec_and_handler(tmp_path):
    spec_path, spec = spec_copy(tmp_path)
    render(spec_path)
    spec["paths"]["/health/live"]["get"]["operationId"] = "get_pulse"
    spec["paths"]["/health"]["get"]["responses"] = "none"
    spec["x-deployment"]["environments"]["staging"]["replicas"] = -1
    write_spec(spec_path, spec)
    problems = run_checks(spec_path)
    assert any(p.startswith("openapi: paths./health.get.responses") for p in problems), problems
    assert "paths./health/live.get: handlers.health has no function get_pulse" in problems
    assert any(
        p.startswith("x-deployment.environments.staging.replicas: -1 is less than")
        for p in problems
    ), problems


def test_render_rejects_bad_block(tmp_path):
    spec_path, spec = spec_copy(tmp_path)
    spec["x-deployment"]["container"]["port"] = 80
    spec["x-deployment"]["image"]["pullPolicy"] = "Sometimes"
    write_spec(spec_path, spec)
    result = pizza_api("render", "--spec", str(spec_path))
    assert result.returncode == 1
    assert "x-deployment.container.port: 80 is less than the minimum of 1024" in result.stderr
    assert "x-deployment.image.pullPolicy: 'Sometimes' is not one of" in result.stderr
    assert not (tmp_path / "generated").exists()


def render_variant(tmp_path: Path, name: str, change) -> tuple[Path, dict[str, str]]:
    """Render the project spec after `change(spec)` into tmp_path/name, with the chart."""
    directory = tmp_path / name
    directory.mkdir()
    copy_chart(directory)
    spec_path, spec = spec_copy(directory)
    change(spec)
    write_spec(spec_path, spec)
    result = pizza_api("render", "--spec", str(spec_path))
    assert result.returncode == 0, result.stderr
    return directory, read_rendered(directory)


def test_port_change_reaches_every_file(tmp_path, helm):
    def change(spec):
        spec["x-deployment"]["container"]["port"] = 9090

    _, before = render_variant(tmp_path, "before", lambda spec: None)
    directory, after = render_variant(tmp_path, "after", change)

    changed = {path for path in before if before[path] != after[path]}
    for path in (
        "Dockerfile",
        "generated/docker-compose.yaml",
        "charts/pizza-api/values.yaml",
        *(f"generated/env/{env}.env" for env in ("development", "staging", "production")),
        *(
            f"generated/k8s/{env}/{kind}.yaml"
            for env in ("development", "staging", "production")
            for kind in ("deployment", "configmap")
        ),
    ):
        assert path in changed, path
        assert "9090" in after[path], path
    leftovers = [path for path, text in after.items() if "8080" in text]
    assert leftovers == []

    deployment_doc = yaml_documents(after["generated/k8s/production/deployment.yaml"])[0]
    container = deployment_doc["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == 9090
    assert "EXPOSE 9090" in after["Dockerfile"].splitlines()

    chart = directory / "charts" / "pizza-api"
    docs = helm.template(chart, chart / "values-production.yaml")
    (deployment_from_chart,) = [doc for doc in docs if doc["kind"] == "Deployment"]
    chart_container = deployment_from_chart["spec"]["template"]["spec"]["containers"][0]
    assert chart_container["ports"][0]["containerPort"] == 9090
    (configmap,) = [doc for doc in docs if doc["kind"] == "ConfigMap"]
    assert configmap["data"]["APP_PORT"] == "9090"


def test_probe_operation_change_reaches_every_file(tmp_path):
    def change(spec):
        del spec["paths"]["/health/live"]["get"]["x-probe"]
        spec["paths"]["/health"]["get"]["x-probe"] = ["liveness", "startup"]

    _, after = render_variant(tmp_path, "after", change)
    leftovers = [path for path, text in after.items() if "/health/live" in text]
    assert leftovers == []
    for env in ("development", "staging", "production"):
        doc = yaml_documents(after[f"generated/k8s/{env}/deployment.yaml"])[0]
        container = doc["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["startupProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    values = yaml.safe_load(after["charts/pizza-api/values.yaml"])
    assert values["probes"]["liveness"]["path"] == "/health"
    assert "/health'" in after["Dockerfile"]


def test_replica_change_reaches_every_file(tmp_path, helm):
    def change(spec):
        staging = spec["x-deployment"]["environments"]["staging"]
        staging["replicas"] = 5
        staging["autoscaling"]["enabled"] = False
        spec["x-deployment"]["environments"]["production"]["autoscaling"]["minReplicas"] = 4

    directory, after = render_variant(tmp_path, "after", change)
    staging = yaml_documents(after["generated/k8s/staging/deployment.yaml"])[0]
    assert staging["spec"]["replicas"] == 5
    assert "generated/k8s/staging/hpa.yaml" not in after
    assert "generated/k8s/staging/hpa.yaml" not in after["generated/MANIFEST"]
    production_hpa = yaml_documents(after["generated/k8s/production/hpa.yaml"])[0]
    assert production_hpa["spec"]["minReplicas"] == 4

    chart = directory / "charts" / "pizza-api"
    assert yaml.safe_load(after["charts/pizza-api/values-staging.yaml"])["replicaCount"] == 5
    docs = helm.template(chart, chart / "values-staging.yaml")
    kinds = {doc["kind"]: doc for doc in docs}
    assert kinds["Deployment"]["spec"]["replicas"] == 5
    assert "HorizontalPodAutoscaler" not in kinds
    docs = helm.template(chart, chart / "values-production.yaml")
    (hpa,) = [doc for doc in docs if doc["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["minReplicas"] == 4


def test_render_removes_files_it_no_longer_produces(tmp_path):
    spec_path, spec = spec_copy(tmp_path)
    render(spec_path)
    assert (tmp_path / "generated/k8s/staging/hpa.yaml").is_file()
    spec["x-deployment"]["environments"]["staging"]["autoscaling"]["enabled"] = False
    write_spec(spec_path, spec)
    render(spec_path)
    assert not (tmp_path / "generated/k8s/staging/hpa.yaml").exists()
    assert run_checks(spec_path) == ["missing: charts/pizza-api/Chart.yaml"] or all(
        not p.startswith("extra:") for p in run_checks(spec_path)
    )


@pytest.mark.parametrize("command", ["render", "check"])
def test_subcommand_help(command):
    result = pizza_api(command, "--help")
    assert result.returncode == 0
    assert "--spec" in result.stdout
