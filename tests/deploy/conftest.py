"""Fixtures of the deployment tests: rendered files, their YAML documents and helm."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pizza_api.deploy.model import load_deployment
from pizza_api.deploy.render import render_files
from pizza_api.spec import DEFAULT_SPEC_PATH, load_spec

PROJECT_ROOT = DEFAULT_SPEC_PATH.parent
HELM = PROJECT_ROOT / "tools" / "helm"
CHART_DIR = PROJECT_ROOT / "charts" / "pizza-api"
KUBERNETES_VERSION = "1.37.0"


@pytest.fixture(scope="session")
def deployment():
    return load_deployment(load_spec(DEFAULT_SPEC_PATH))


@pytest.fixture(scope="session")
def rendered(deployment) -> dict[str, str]:
    return render_files(deployment)


def yaml_documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def manifests(files: dict[str, str], environment: str) -> dict[str, dict]:
    """Return {kind: object} of the manifests rendered for `environment`."""
    prefix = f"generated/k8s/{environment}/"
    objects = {}
    for path, text in files.items():
        if path.startswith(prefix):
            for doc in yaml_documents(text):
                objects[doc["kind"]] = doc
    return objects


class Helm:
    """The real helm binary with its cache, config and data homes in a temporary directory."""

    def __init__(self, home: Path) -> None:
        if not HELM.is_file():
            pytest.fail(f"{HELM} is missing; run `make helm` (scripts/install-helm.sh)")
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(HELM), *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def template(self, chart: Path, *values_files: Path, release: str = "pizza-api") -> list:
        args = ["template", release, str(chart)]
        for values in values_files:
            args += ["-f", str(values)]
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return yaml_documents(result.stdout)


@pytest.fixture(scope="session")
def helm(tmp_path_factory) -> Helm:
    return Helm(tmp_path_factory.mktemp("helm-home"))


def copy_chart(target: Path) -> Path:
    """Copy the hand-written chart to `target`/charts/pizza-api and return that directory."""
    destination = target / "charts" / "pizza-api"
    shutil.copytree(CHART_DIR, destination)
    return destination
