"""The Helm chart with the real helm binary: lint, template, and agreement with generated/."""

import json

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import CHART_DIR, KUBERNETES_VERSION, manifests

ENVIRONMENTS = ("development", "staging", "production")


def values_file(environment: str):
    return CHART_DIR / f"values-{environment}.yaml"


def by_kind(docs: list[dict]) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in docs}


def test_lint_strict_default_values(helm):
    result = helm.run("lint", "--strict", str(CHART_DIR))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_lint_strict_per_environment(helm, environment):
    result = helm.run("lint", "--strict", str(CHART_DIR), "-f", str(values_file(environment)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout
    assert "[ERROR]" not in result.stdout


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_template_objects_validate_strict(helm, environment):
    docs = helm.template(CHART_DIR, values_file(environment))
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    kinds = sorted(doc["kind"] for doc in docs)
    expected = ["ConfigMap", "Deployment", "Ingress", "PodDisruptionBudget", "Pod", "Service"]
    expected += ["PersistentVolumeClaim"] if environment == "development" else []
    expected += ["HorizontalPodAutoscaler"] if environment != "development" else []
    assert kinds == sorted(expected)


def container_fields(container: dict) -> dict:
    """Return the fields of a container that decide how it runs."""
    return {
        key: container.get(key)
        for key in (
            "name",
            "image",
            "imagePullPolicy",
            "command",
            "ports",
            "env",
            "envFrom",
            "resources",
            "securityContext",
            "volumeMounts",
            "startupProbe",
            "livenessProbe",
            "readinessProbe",
        )
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_chart_matches_generated_manifests(helm, rendered, environment):
    chart = by_kind(helm.template(CHART_DIR, values_file(environment)))
    generated = manifests(rendered, environment)

    chart_deployment, generated_deployment = chart["Deployment"], generated["Deployment"]
    assert chart_deployment["metadata"]["name"] == generated_deployment["metadata"]["name"]
    assert chart_deployment["spec"].get("replicas") == generated_deployment["spec"].get("replicas")
    assert chart_deployment["spec"]["strategy"] == generated_deployment["spec"]["strategy"]
    assert (
        chart_deployment["spec"]["selector"]["matchLabels"]
        == generated_deployment["spec"]["selector"]["matchLabels"]
    )
    chart_pod = chart_deployment["spec"]["template"]["spec"]
    generated_pod = generated_deployment["spec"]["template"]["spec"]
    assert chart_pod["securityContext"] == generated_pod["securityContext"]
    assert chart_pod["volumes"] == generated_pod["volumes"]
    for key in ("initContainers", "containers"):
        chart_containers = [container_fields(c) for c in chart_pod.get(key, [])]
        generated_containers = [container_fields(c) for c in generated_pod.get(key, [])]
        assert chart_containers == generated_containers, key

    assert chart["ConfigMap"]["metadata"]["name"] == generated["ConfigMap"]["metadata"]["name"]
    assert chart["ConfigMap"]["data"] == generated["ConfigMap"]["data"]
    assert chart["Service"]["spec"]["ports"] == generated["Service"]["spec"]["ports"]
    assert chart["Service"]["spec"]["selector"] == generated["Service"]["spec"]["selector"]
    assert chart["Ingress"]["spec"] == generated["Ingress"]["spec"]
    assert chart["PodDisruptionBudget"]["spec"] == generated["PodDisruptionBudget"]["spec"]
    if "HorizontalPodAutoscaler" in generated:
        assert (
            chart["HorizontalPodAutoscaler"]["spec"] == generated["HorizontalPodAutoscaler"]["spec"]
        )
    else:
        assert "HorizontalPodAutoscaler" not in chart
    if "PersistentVolumeClaim" in generated:
        assert chart["PersistentVolumeClaim"]["spec"] == generated["PersistentVolumeClaim"]["spec"]
        assert (
            chart["PersistentVolumeClaim"]["metadata"]["name"]
            == generated["PersistentVolumeClaim"]["metadata"]["name"]
        )
    else:
        assert "PersistentVolumeClaim" not in chart


def test_long_release_names_cut_to_63(helm):
    # helm accepts release names up to 53 characters; the chart name adds 10 more.
    release = "r" * 53
    docs = helm.template(CHART_DIR, values_file("development"), release=release)
    for doc in docs:
        assert len(doc["metadata"]["name"]) <= 63, doc["metadata"]["name"]
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_schema_rejects_bad_values(helm, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"replicaCount": 0, "containerPort": "http", "replica": 2}))
    result = helm.run("template", "pizza-api", str(CHART_DIR), "-f", str(bad))
    assert result.returncode != 0
    assert "replicaCount" in result.stderr
    assert "containerPort" in result.stderr


def test_invalid_combination_fails_with_list(helm, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "persistence": {"enabled": True},
                "replicaCount": 2,
                "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2},
            }
        )
    )
    result = helm.run("template", "pizza-api", str(CHART_DIR), "-f", str(bad))
    assert result.returncode != 0
    assert "autoscaling.minReplicas is above autoscaling.maxReplicas" in result.stderr
    assert "persistence.enabled uses a ReadWriteOnce volume" in result.stderr


def merge_values(base: dict, override: dict) -> dict:
    """Merge values files the way helm does: maps deeply, everything else replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged


def test_values_files_match_schema():
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    base = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    jsonschema.validate(base, schema)
    for environment in ENVIRONMENTS:
        merged = merge_values(base, yaml.safe_load(values_file(environment).read_text()))
        jsonschema.validate(merged, schema)


def test_chart_app_version_is_image_tag(deployment):
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["appVersion"] == deployment.image["tag"]
    assert chart["name"] == deployment.name


def test_notes_show_secret_creation(helm):
    result = helm.run(
        "install",
        "pizza-api",
        str(CHART_DIR),
        "-f",
        str(values_file("production")),
        "--dry-run=client",
        "--namespace",
        "pizza",
    )
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "create secret generic pizza-api-secrets" in notes
    assert "--from-literal=DATABASE_URL=..." in notes
    assert "kubectl -n pizza logs -f deployment/pizza-api" in notes
