"""Rendered Kubernetes manifests, env files, docker-compose and MANIFEST."""

import hashlib

import kubernetes_validate
import pytest

from pizza_api.deploy.model import load_deployment
from pizza_api.deploy.render import GENERATOR, MANIFEST_PATH, header, render_files
from pizza_api.spec import load_spec
from tests.deploy.conftest import KUBERNETES_VERSION, manifests, yaml_documents

ENVIRONMENTS = ("development", "staging", "production")


def validate_strict(doc: dict) -> None:
    """Validate one object offline. A missing schema raises, as a failure should."""
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def all_containers(deployment_doc: dict) -> list[dict]:
    pod = deployment_doc["spec"]["template"]["spec"]
    return pod.get("initContainers", []) + pod["containers"]


def test_every_manifest_validates_strict(rendered):
    validated = []
    for path, text in rendered.items():
        if not path.endswith(".yaml") or path.startswith("charts/"):
            continue
        if path == "generated/docker-compose.yaml":
            continue
        for doc in yaml_documents(text):
            validate_strict(doc)
            validated.append((path, doc["kind"]))
    # 3 environments: 6 + 6 + 6 objects in generated/k8s, plus one Secret each.
    assert len(validated) == 21, validated


def test_validation_rejects_bad_objects(rendered):
    deployment_doc = manifests(rendered, "production")["Deployment"]
    deployment_doc["spec"]["template"]["spec"]["containers"][0]["imagee"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strict(deployment_doc)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate_strict({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget"})


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_manifest_kinds_per_environment(rendered, environment):
    kinds = set(manifests(rendered, environment))
    expected = {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "Ingress"}
    if environment == "development":
        expected.add("PersistentVolumeClaim")
    else:
        expected.add("HorizontalPodAutoscaler")
    assert kinds == expected
    # Operators create the Secret, so kubectl apply on the directory must not overwrite it.
    assert "Secret" not in kinds


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_containers_are_locked_down(rendered, environment):
    deployment_doc = manifests(rendered, environment)["Deployment"]
    pod = deployment_doc["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in all_containers(deployment_doc):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, container["name"]
        resources = container["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}, container["name"]
        assert set(resources["limits"]) == {"cpu", "memory"}, container["name"]
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert mounts == {"/app/data", "/tmp"}, container["name"]


def test_names_and_labels_match_operator_commands(rendered):
    for environment in ENVIRONMENTS:
        objects = manifests(rendered, environment)
        deployment_doc = objects["Deployment"]
        # `kubectl logs deployment/pizza-api` and `kubectl get pods -l app=pizza-api`
        assert deployment_doc["metadata"]["name"] == "pizza-api"
        assert deployment_doc["spec"]["template"]["metadata"]["labels"]["app"] == "pizza-api"
        selector = deployment_doc["spec"]["selector"]["matchLabels"]
        assert objects["Service"]["spec"]["selector"] == selector
        assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
        for doc in objects.values():
            labels = doc["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "pizza-api"
            assert labels["app.kubernetes.io/instance"] == "pizza-api"


def test_replicas_omitted_when_autoscaling(rendered, deployment):
    for name, env in deployment.environments.items():
        objects = manifests(rendered, name)
        spec = objects["Deployment"]["spec"]
        if env.autoscaling["enabled"]:
            assert "replicas" not in spec, name
            hpa = objects["HorizontalPodAutoscaler"]["spec"]
            assert hpa["minReplicas"] == env.autoscaling["minReplicas"]
            assert hpa["maxReplicas"] == env.autoscaling["maxReplicas"]
            assert hpa["scaleTargetRef"]["name"] == "pizza-api"
        else:
            assert spec["replicas"] == env.replicas, name
    production = manifests(rendered, "production")["HorizontalPodAutoscaler"]
    assert production["apiVersion"] == "autoscaling/v2"
    assert (production["spec"]["minReplicas"], production["spec"]["maxReplicas"]) == (3, 10)


def test_probes_follow_marked_operations(rendered):
    for environment in ENVIRONMENTS:
        container = manifests(rendered, environment)["Deployment"]["spec"]["template"]["spec"][
            "containers"
        ][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        for probe in ("livenessProbe", "startupProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["port"] == "http"
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert container["startupProbe"]["failureThreshold"] == 30


def test_database_wiring_per_environment(rendered):
    development = manifests(rendered, "development")
    assert development["ConfigMap"]["data"]["DATABASE_URL"] == "sqlite:///app/data/pizza-api.sqlite"
    pod = development["Deployment"]["spec"]["template"]["spec"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "pizza-api-data"
    assert development["Deployment"]["spec"]["strategy"]["type"] == "Recreate"
    assert "initContainers" not in pod
    assert development["ConfigMap"]["data"]["AUTO_MIGRATE"] == "true"

    for environment in ("staging", "production"):
        objects = manifests(rendered, environment)
        assert "DATABASE_URL" not in objects["ConfigMap"]["data"]
        assert objects["ConfigMap"]["data"]["AUTO_MIGRATE"] == "false"
        pod = objects["Deployment"]["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert init["command"] == ["pizza-api", "db", "upgrade"]
        for container in (init, pod["containers"][0]):
            env = {item["name"]: item["valueFrom"]["secretKeyRef"] for item in container["env"]}
            assert env["DATABASE_URL"] == {"name": "pizza-api-secrets", "key": "DATABASE_URL"}
            assert set(env) == {
                "JWT_SECRET",
                "BOOTSTRAP_CLIENT_SECRET",
                "DATABASE_URL",
                "RATE_LIMIT_STORAGE",
            }
            assert container["envFrom"] == [{"configMapRef": {"name": "pizza-api-config"}}]


def test_ingress_has_tls_and_no_rewrite(rendered):
    ingress = manifests(rendered, "production")["Ingress"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["pizza-api.example.com"], "secretName": "pizza-api-production-tls"}
    ]
    assert not ingress["metadata"].get("annotations")
    for path in ingress["spec"]["rules"][0]["http"]["paths"]:
        assert path["pathType"] == "Prefix"
        assert path["backend"]["service"] == {"name": "pizza-api", "port": {"name": "http"}}


def test_secret_template_has_no_values(rendered):
    for environment in ENVIRONMENTS:
        (secret,) = yaml_documents(rendered[f"generated/secrets/{environment}.yaml"])
        assert secret["kind"] == "Secret"
        assert set(secret["stringData"].values()) == {""}
        assert "JWT_SECRET" in secret["stringData"]
    production = yaml_documents(rendered["generated/secrets/production.yaml"])[0]
    assert "DATABASE_URL" in production["stringData"]


def parse_env_file(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_env_files_list_settings_and_empty_secrets(rendered):
    staging = parse_env_file(rendered["generated/env/staging.env"])
    assert staging["APP_ENV"] == "staging"
    assert staging["APP_HOST"] == "0.0.0.0"
    assert staging["APP_PORT"] == "8080"
    assert staging["LOG_LEVEL"] == "info"
    assert staging["AUTO_MIGRATE"] == "false"
    for secret in ("JWT_SECRET", "BOOTSTRAP_CLIENT_SECRET", "DATABASE_URL"):
        assert staging[secret] == "", secret
    production = parse_env_file(rendered["generated/env/production.env"])
    assert production["LOG_LEVEL"] == "warning"
    development = parse_env_file(rendered["generated/env/development.env"])
    assert development["DATABASE_URL"] == "sqlite:///app/data/pizza-api.sqlite"
    assert development["LOG_LEVEL"] == "debug"


def test_env_files_load_as_settings(rendered):
    from pizza_api.settings import Settings

    for environment in ENVIRONMENTS:
        env = parse_env_file(rendered[f"generated/env/{environment}.env"])
        env["JWT_SECRET"] = "x" * 48
        env.setdefault("DATABASE_URL", "")
        if not env["DATABASE_URL"]:
            env["DATABASE_URL"] = "postgres://user@db.invalid:5432/pizza_api"
        settings = Settings.from_env(env)
        assert settings.app_env == environment
        assert settings.port == 8080
        assert settings.auto_migrate is (environment == "development")


def test_compose_runs_api_with_optional_postgres(rendered):
    (compose,) = yaml_documents(rendered["generated/docker-compose.yaml"])
    api = compose["services"]["api"]
    assert api["build"] == {"context": "..", "dockerfile": "Dockerfile"}
    assert api["env_file"] == ["env/development.env"]
    assert api["ports"] == ["127.0.0.1:8080:8080"]
    assert api["volumes"] == ["data:/app/data"]
    assert "profiles" not in api
    assert compose["services"]["postgres"]["profiles"] == ["postgres"]


def test_every_file_has_header(rendered):
    expected = "# " + header("openapi.yaml")
    assert GENERATOR == "pizza-api render"
    for path, text in rendered.items():
        if path.endswith(".json"):
            assert f'"$comment": "{header("openapi.yaml")}"' in text, path
        else:
            assert text.splitlines()[0] == expected, path


def test_manifest_lists_every_file_with_sha256(rendered):
    lines = rendered[MANIFEST_PATH].splitlines()[1:]
    listed = dict(reversed(line.split("  ", 1)) for line in lines)
    assert set(listed) == set(rendered) - {MANIFEST_PATH}
    for path, digest in listed.items():
        assert hashlib.sha256(rendered[path].encode()).hexdigest() == digest, path


def test_render_is_deterministic(rendered):
    again = render_files(load_deployment(load_spec()))
    assert again == rendered
    assert list(again) == sorted(again)


def test_ingress_routes_only_public_prefixes(rendered):
    for environment in ("development", "staging", "production"):
        ingress = manifests(rendered, environment)["Ingress"]
        paths = [entry["path"] for entry in ingress["spec"]["rules"][0]["http"]["paths"]]
        assert paths == ["/api", "/health", "/openapi.json", "/swagger"]
        assert "/metrics" not in paths
