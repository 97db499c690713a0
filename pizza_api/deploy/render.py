"""Render Kubernetes manifests, env files, docker-compose, the Dockerfile and chart values.

Rendering is a pure function of the spec: files come out in a fixed order with no
timestamps, and `generated/MANIFEST` lists each one with its sha256, so two renders
of the same spec are byte-identical.
"""

import hashlib
import json
from pathlib import Path

import jinja2
import yaml

from pizza_api.deploy import chart_values
from pizza_api.deploy.model import (
    CONTAINER_HOST,
    Deployment,
    Environment,
    load_deployment,
    read_spec,
)
from pizza_api.spec import PROJECT_ROOT

# NOTE: the templates live beside the package, not in it, so `render` works from a
# source checkout and not from an installed wheel or the container image.
TEMPLATES_DIR = PROJECT_ROOT / "templates"
GENERATOR = "pizza-api render"
GENERATED_DIR = "generated"
MANIFEST_PATH = f"{GENERATED_DIR}/MANIFEST"
# Working directory of the image; the spec file is copied into it.
IMAGE_WORKDIR = "/app"


def header(spec_file: str, generator: str = GENERATOR) -> str:
    return f"Generated from {spec_file} by `{generator}`; do not edit."


def _quote(value) -> str:
    """Return `value` as a double-quoted YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(str(value), ensure_ascii=False)


def _flow(values) -> str:
    return json.dumps(list(values), ensure_ascii=False)


def _to_yaml(value) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip("\n")


def make_environment(templates_dir: Path = TEMPLATES_DIR) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(q=_quote, flow=_flow, toyaml=_to_yaml)
    return env


def resource_names(deployment: Deployment) -> dict:
    """Return the names of the Kubernetes objects, which the Helm chart uses as well."""
    return {
        "deployment": deployment.name,
        "service": deployment.name,
        "ingress": deployment.name,
        "config": f"{deployment.name}-config",
        "secret": f"{deployment.name}-secrets",
        "data": f"{deployment.name}-data",
    }


def selector_labels(deployment: Deployment) -> dict:
    return {
        "app": deployment.name,
        "app.kubernetes.io/name": deployment.name,
        "app.kubernetes.io/instance": deployment.name,
    }


def labels(deployment: Deployment) -> dict:
    return {
        **selector_labels(deployment),
        "app.kubernetes.io/version": deployment.image["tag"],
        "app.kubernetes.io/component": "api",
    }


def config_checksum(variables: dict) -> str:
    text = "".join(f"{key}={value}\n" for key, value in variables.items())
    return hashlib.sha256(text.encode()).hexdigest()


def _k8s_files(deployment: Deployment, env: Environment) -> list[str]:
    files = ["configmap", "deployment", "service", "pdb"]
    if env.ingress["enabled"]:
        files.append("ingress")
    if env.autoscaling["enabled"]:
        files.append("hpa")
    if env.uses_sqlite:
        files.append("pvc")
    return sorted(files)


def _compose_environment(deployment: Deployment) -> Environment:
    """Return the environment docker-compose runs: development, else the first one."""
    return deployment.environments.get("development") or next(
        iter(deployment.environments.values())
    )


def render_files(deployment: Deployment, generator: str = GENERATOR) -> dict[str, str]:
    """Return {relative path: text} of every rendered file, MANIFEST included, sorted."""
    templates = make_environment()
    base = {"deployment": deployment, "header": header(deployment.spec_file, generator)}
    names = resource_names(deployment)
    files: dict[str, str] = {}

    for env in deployment.environments.values():
        variables = deployment.environment_variables(env)
        context = {
            **base,
            "env": env,
            "names": names,
            "labels": labels(deployment),
            "selector_labels": selector_labels(deployment),
            "variables": variables,
            "config_checksum": config_checksum(variables),
        }
        for kind in _k8s_files(deployment, env):
            template = templates.get_template(f"k8s/{kind}.yaml.j2")
            files[f"{GENERATED_DIR}/k8s/{env.name}/{kind}.yaml"] = template.render(context)
        secret = templates.get_template("k8s/secret.yaml.j2").render(context)
        files[f"{GENERATED_DIR}/secrets/{env.name}.yaml"] = secret
        env_file = templates.get_template("env/environment.env.j2").render(context)
        files[f"{GENERATED_DIR}/env/{env.name}.env"] = env_file
        files[f"charts/{deployment.name}/values-{env.name}.yaml"] = templates.get_template(
            "helm/values-environment.yaml.j2"
        ).render({**context, "chart_config": chart_values.chart_config(variables)})

    compose_env = _compose_environment(deployment)
    files[f"{GENERATED_DIR}/docker-compose.yaml"] = templates.get_template(
        "compose/docker-compose.yaml.j2"
    ).render({**base, "env": compose_env, "database_name": deployment.name.replace("-", "_")})
    files[f"charts/{deployment.name}/values.yaml"] = templates.get_template(
        "helm/values.yaml.j2"
    ).render({**base, "default_env": compose_env})
    schema = chart_values.values_schema(deployment, base["header"])
    files[f"charts/{deployment.name}/values.schema.json"] = json.dumps(schema, indent=2) + "\n"
    dockerfile = templates.get_template("docker/Dockerfile.j2")
    files["Dockerfile"] = dockerfile.render({**base, **_dockerfile_context(deployment)})

    files[MANIFEST_PATH] = manifest(files, base["header"])
    return dict(sorted(files.items()))


def _dockerfile_context(deployment: Deployment) -> dict:
    port = deployment.port
    liveness_path = deployment.probes["liveness"].path
    # python:3.11-slim has no curl, so the HEALTHCHECK fetches the liveness path with Python.
    url = f"'http://127.0.0.1:' + os.environ.get('APP_PORT', '{port}') + {liveness_path!r}"
    fetch = f"import os, urllib.request; urllib.request.urlopen({url}, timeout=3)"
    extras = ",".join(deployment.pip_extras)
    return {
        "host": CONTAINER_HOST,
        "workdir": IMAGE_WORKDIR,
        "extras": f"[{extras}]" if extras else "",
        "healthcheck": ["python", "-c", fetch],
    }


def manifest(files: dict[str, str], header_text: str) -> str:
    """Return MANIFEST: one `<sha256>  <path>` line per file, in `sha256sum -c` format."""
    lines = [f"# {header_text}"]
    for path in sorted(files):
        if path != MANIFEST_PATH:
            digest = hashlib.sha256(files[path].encode("utf-8")).hexdigest()
            lines.append(f"{digest}  {path}")
    return "\n".join(lines) + "\n"


def write_files(files: dict[str, str], output_dir: Path) -> list[Path]:
    """Write `files` under `output_dir` and return the paths written."""
    written = []
    for relative, text in files.items():
        target = output_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
        written.append(target)
    return written


def previous_files(output_dir: Path) -> list[str]:
    """Return the paths the last render listed in MANIFEST (none when it is missing)."""
    path = output_dir / MANIFEST_PATH
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("  ", 1)[1] for line in lines if "  " in line and not line.startswith("#")]


def render(spec_path: Path, output_dir: Path | None = None) -> dict[str, str]:
    """Render `spec_path` into `output_dir` (default: the spec's directory).

    Files that the previous MANIFEST listed and this render no longer produces (an
    environment removed from the block, say) are deleted. Returns the rendered files.
    """
    spec_path = Path(spec_path).resolve()
    output_dir = Path(output_dir or spec_path.parent)
    deployment = load_deployment(read_spec(spec_path), spec_file=spec_path.name)
    files = render_files(deployment)
    stale = [path for path in previous_files(output_dir) if path not in files]
    write_files(files, output_dir)
    root = output_dir.resolve()
    for path in stale:
        target = (output_dir / path).resolve()
        if root in target.parents:  # a hand-edited MANIFEST must not reach outside
            target.unlink(missing_ok=True)
    return files
