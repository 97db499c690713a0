"""The Dockerfile: hadolint, its structure, and its install and start steps run for real.

No Docker engine runs here, so the last test replays the image's steps. It copies the
build context as .dockerignore filters it and runs the builder's pip install into a
temporary venv. Then it runs the migration command and CMD with the runtime stage's
ENV, and waits for the HEALTHCHECK command to pass.
"""

import fnmatch
import json
import os
import shlex
import shutil
import site
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_JWT_SECRET
from tests.deploy.conftest import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).with_name("hadolint")


def parse_dockerfile(text: str) -> list[list[tuple[str, str]]]:
    """Return the stages of a Dockerfile, each a list of (INSTRUCTION, arguments)."""
    stages: list[list[tuple[str, str]]] = []
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        instruction, _, arguments = logical.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
        logical = ""
    return stages


def instructions(stage, name: str) -> list[str]:
    return [arguments for instruction, arguments in stage if instruction == name]


def parse_env(arguments: list[str]) -> dict[str, str]:
    """Return the KEY=value pairs of ENV instructions, in order."""
    values = {}
    for argument in arguments:
        for pair in shlex.split(argument):
            key, _, value = pair.partition("=")
            values[key] = value
    return values


def exec_form(arguments: str) -> list[str]:
    return json.loads(arguments)


@pytest.fixture(scope="module")
def stages():
    return parse_dockerfile(DOCKERFILE.read_text())


def test_hadolint_passes():
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_hadolint_flags_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\nCMD python app.py\n")
    result = subprocess.run([str(HADOLINT), str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "DL3007" in result.stdout  # the latest tag
    assert "DL3013" in result.stdout  # unpinned pip package


def test_builder_and_runtime_stages(stages, deployment):
    builder, runtime = stages
    assert instructions(builder, "FROM") == ["python:3.11-slim AS builder"]
    assert instructions(runtime, "FROM") == ["python:3.11-slim"]
    (install,) = [run for run in instructions(builder, "RUN") if "pip install" in run]
    assert "--constraint constraints.txt" in install
    assert instructions(runtime, "COPY")[0] == "--from=builder /opt/venv /opt/venv"

    env = parse_env(instructions(runtime, "ENV"))
    assert env["APP_ENV"] == "production"
    assert env["APP_HOST"] == "0.0.0.0"
    assert env["APP_PORT"] == str(deployment.port)
    assert env["PIZZA_API_SPEC"] == "/app/openapi.yaml"
    assert instructions(runtime, "EXPOSE") == [str(deployment.port)]
    assert instructions(runtime, "VOLUME") == ['["/app/data"]']
    user = deployment.run_as_user
    assert instructions(runtime, "USER") == [f"{user}:{user}"]
    assert exec_form(instructions(runtime, "CMD")[0]) == ["pizza-api", "serve"]

    (healthcheck,) = instructions(runtime, "HEALTHCHECK")
    command = exec_form(healthcheck.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert deployment.probes["liveness"].path in command[2]


def dockerignore_patterns() -> list[str]:
    lines = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Match a context path the way Docker does for these patterns (no `!` exceptions)."""
    parts = relative.split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        for pattern in patterns:
            if pattern.startswith("**/"):
                if fnmatch.fnmatchcase(parts[depth - 1], pattern[3:]):
                    return True
            elif "/" not in pattern:
                # In Docker's matcher `*` stops at `/`, so such a pattern names a top-level entry.
                if depth == 1 and fnmatch.fnmatchcase(prefix, pattern):
                    return True
            elif fnmatch.fnmatchcase(prefix, pattern):
                return True
    return False


def test_dockerignore_keeps_secrets_and_state_out():
    patterns = dockerignore_patterns()
    for path in (
        ".env",
        "data/pizza-api.sqlite",
        ".venv/bin/python",
        ".git",
        "tests/conftest.py",
        "pizza_api/__pycache__/app.cpython-311.pyc",
        "test.sqlite",
        "tools/helm",
    ):
        assert ignored(path, patterns), path
    for path in (
        "pyproject.toml",
        "constraints.txt",
        "openapi.yaml",
        "pizza_api/app.py",
        "pizza_api/deploy/schema.json",
        "handlers/health.py",
        "pizza_api/migrations/env.py",
    ):
        assert not ignored(path, patterns), path


def copy_context(target: Path) -> None:
    """Copy the build context as `docker build .` would send it."""
    patterns = dockerignore_patterns()
    for directory, subdirectories, filenames in os.walk(PROJECT_ROOT):
        relative_dir = Path(directory).relative_to(PROJECT_ROOT).as_posix()
        prefix = "" if relative_dir == "." else relative_dir + "/"
        subdirectories[:] = [d for d in subdirectories if not ignored(prefix + d, patterns)]
        for filename in filenames:
            relative = prefix + filename
            if not ignored(relative, patterns):
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(directory) / filename, target / relative)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.server
def test_image_steps_install_and_serve(stages, deployment, tmp_path):
    builder, runtime = stages
    # Paths of the image, mapped into the temporary directory.
    mapping = {
        "/opt/venv": str(tmp_path / "venv"),
        "/app": str(tmp_path / "app"),
        "/src": str(tmp_path / "src"),
    }

    def mapped(text: str) -> str:
        for image_path, local_path in mapping.items():
            text = text.replace(image_path, local_path)
        return text

    source = tmp_path / "src"
    source.mkdir()
    copy_context(source)
    assert (source / "pyproject.toml").is_file()
    assert not (source / "tests").exists()
    assert not (source / ".venv").exists()

    # Builder stage: every RUN in order, from WORKDIR /src. The project's dependencies are
    # not installed again, because a .pth file adds this test's site-packages to the venv.
    # pip builds and installs only the project from the context copy. Like `docker build`,
    # the isolated build fetches the build backend (setuptools) from the package index.
    for command in instructions(builder, "RUN"):
        argv = shlex.split(mapped(command))
        if argv[:3] == ["python", "-m", "venv"]:
            argv[0] = sys.executable
        if "install" in argv:
            argv += ["--no-deps"]
        result = subprocess.run(argv, cwd=source, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        if argv[:3] == [sys.executable, "-m", "venv"]:
            venv_site = next((tmp_path / "venv" / "lib").glob("python3*/site-packages"))
            (venv_site / "test-dependencies.pth").write_text(
                "\n".join(site.getsitepackages()) + "\n"
            )

    # Runtime stage: ENV, COPY of the spec, WORKDIR and VOLUME.
    env = {key: mapped(value) for key, value in parse_env(instructions(runtime, "ENV")).items()}
    env["PATH"] = env["PATH"].replace("$PATH", os.environ["PATH"])
    app_dir = tmp_path / "app"
    (app_dir / "data").mkdir(parents=True)
    _, spec_source, spec_target = ["COPY", *instructions(runtime, "COPY")[1].split()]
    shutil.copyfile(source / spec_source, mapped(spec_target))
    # Tests listen on 127.0.0.1 only, while the image sets APP_HOST=0.0.0.0.
    port = free_port()
    env.update(APP_HOST="127.0.0.1", APP_PORT=str(port))
    # What Kubernetes adds from the ConfigMap and the Secret.
    env.update(
        JWT_SECRET=TEST_JWT_SECRET,
        DATABASE_URL=f"sqlite://{app_dir}/data/{deployment.sqlite_file}",
        WEB_CONCURRENCY="1",
        HOME=str(tmp_path),
    )
    process_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("APP_", "PIZZA"))},
        **env,
    }

    installed = subprocess.run(
        ["python", "-c", "import pizza_api, handlers; print(pizza_api.__file__)"],
        env=process_env,
        cwd=app_dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert installed.stdout.startswith(str(tmp_path / "venv")), installed.stdout + installed.stderr

    migrate = subprocess.run(
        list(deployment.migrate_command),
        env=process_env,
        cwd=app_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "schema revision: none ->" in migrate.stdout

    (cmd,) = instructions(runtime, "CMD")
    (healthcheck,) = instructions(runtime, "HEALTHCHECK")
    probe_command = exec_form(healthcheck.split(" CMD ", 1)[1])
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            exec_form(cmd), env=process_env, cwd=app_dir, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log_path.read_text()
            probe = subprocess.run(probe_command, env=process_env, capture_output=True, timeout=30)
            if probe.returncode == 0:
                break
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.3)
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert health["database"] == "connected"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
