"""The renderer on an unrelated spec: a bookshelf service with its own block and handlers."""

import json
import shutil

import jsonschema
import kubernetes_validate
import pytest
import yaml

from pizza_api.deploy.check import run_checks
from pizza_api.deploy.render import GENERATOR, render
from tests.deploy.conftest import KUBERNETES_VERSION, PROJECT_ROOT, yaml_documents
from tests.deploy.test_chart import merge_values

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "bookshelf"


@pytest.fixture
def bookshelf(tmp_path):
    """Render the fixture spec into a copy of its directory; return (directory, files)."""
    shutil.copytree(FIXTURE, tmp_path / "bookshelf")
    directory = tmp_path / "bookshelf"
    return directory, render(directory / "openapi.yaml")


def test_bookshelf_renders_without_pizza(bookshelf):
    _, files = bookshelf
    assert "charts/bookshelf/values-live.yaml" in files
    assert "generated/k8s/local/pvc.yaml" in files
    for path, text in files.items():
        # The header names the tool that rendered the file. Nothing else may contain "pizza".
        assert "pizza" not in text.replace(GENERATOR, "").lower(), path
        assert "pizza" not in path


def test_bookshelf_manifests_validate_strict(bookshelf):
    _, files = bookshelf
    count = 0
    for path, text in files.items():
        if path.startswith(("generated/k8s/", "generated/secrets/")):
            for doc in yaml_documents(text):
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
                count += 1
    # local: ConfigMap, Deployment, Service, PDB, PVC; live: + Ingress, HPA, no PVC; 2 Secrets
    assert count == 13


def test_bookshelf_values_follow_its_block(bookshelf):
    directory, files = bookshelf
    chart = directory / "charts" / "bookshelf"
    schema = json.loads((chart / "values.schema.json").read_text())
    base = yaml.safe_load((chart / "values.yaml").read_text())
    jsonschema.validate(base, schema)
    live = merge_values(base, yaml.safe_load((chart / "values-live.yaml").read_text()))
    jsonschema.validate(live, schema)
    assert base["containerPort"] == 9000
    assert base["image"]["repository"] == "registry.example.org/library/bookshelf"
    # The first server URL prefixes the probe paths.
    assert base["probes"]["liveness"]["path"] == "/shelf/livez"
    assert base["probes"]["readiness"]["path"] == "/shelf/readyz"
    assert live["config"]["APP_ENV"] == "live"
    assert live["secret"]["keys"] == ["SESSION_KEY", "DATABASE_URL"]
    assert live["migration"] == {"enabled": True, "command": ["bookshelf", "migrate"]}

    deployment = yaml_documents(files["generated/k8s/live/deployment.yaml"])[0]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["command"] == ["bookshelf", "migrate"]
    assert pod["containers"][0]["command"] == ["bookshelf", "run"]
    assert pod["securityContext"]["runAsUser"] == 2000
    local = yaml_documents(files["generated/k8s/local/configmap.yaml"])[0]
    assert local["data"]["DATABASE_URL"] == "sqlite:///srv/shelf/books.db"
    pvc = yaml_documents(files["generated/k8s/local/pvc.yaml"])[0]
    assert pvc["spec"]["storageClassName"] == "local-path"
    assert "ENV PATH=/opt/venv/bin:$PATH" in files["Dockerfile"]
    assert "    BOOKSHELF_SPEC=/app/openapi.yaml" in files["Dockerfile"]


def test_bookshelf_check_passes(bookshelf):
    directory, _ = bookshelf
    assert run_checks(directory / "openapi.yaml") == []
