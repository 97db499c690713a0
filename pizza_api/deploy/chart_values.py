"""Chart values derived from the deployment model, and their JSON Schema."""

from pizza_api.deploy.model import Deployment

# The chart sets these itself: APP_HOST to every interface, APP_PORT to containerPort.
CHART_SET_VARIABLES = ("APP_HOST", "APP_PORT")


def chart_config(variables: dict) -> dict:
    """Return the `config` value: the environment's variables less those the chart sets."""
    return {key: value for key, value in variables.items() if key not in CHART_SET_VARIABLES}


def _quantities() -> dict:
    quantity = {"type": ["string", "number"]}
    pair = {
        "type": "object",
        "additionalProperties": False,
        "required": ["cpu", "memory"],
        "properties": {"cpu": quantity, "memory": quantity},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["requests", "limits"],
        "properties": {"requests": pair, "limits": pair},
    }


def _probe() -> dict:
    count = {"type": "integer", "minimum": 1}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["path", "periodSeconds", "timeoutSeconds", "failureThreshold"],
        "properties": {
            "path": {"type": "string", "pattern": "^/"},
            "initialDelaySeconds": {"type": "integer", "minimum": 0},
            "periodSeconds": count,
            "timeoutSeconds": count,
            "failureThreshold": count,
        },
    }


def values_schema(deployment: Deployment, header_text: str) -> dict:
    """Return values.schema.json for the chart: types, ranges and the spec's environment names."""
    strings = {"type": "array", "items": {"type": "string", "minLength": 1}}
    open_object = {"type": "object"}
    env_name = "^[A-Z_][A-Z0-9_]*$"
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$comment": header_text,
        "title": f"{deployment.name} chart values",
        "type": "object",
        "additionalProperties": False,
        "required": [
            "image",
            "containerPort",
            "command",
            "dataPath",
            "migration",
            "replicaCount",
            "service",
            "probes",
            "resources",
            "autoscaling",
            "ingress",
            "persistence",
            "config",
            "secret",
            "securityContext",
        ],
        "properties": {
            "global": open_object,
            "nameOverride": {"type": "string"},
            "fullnameOverride": {"type": "string"},
            "image": {
                "type": "object",
                "additionalProperties": False,
                "required": ["repository", "tag", "pullPolicy"],
                "properties": {
                    "repository": {"type": "string", "minLength": 1},
                    "tag": {"type": "string", "minLength": 1},
                    "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                },
            },
            "imagePullSecrets": {"type": "array"},
            "containerPort": {"type": "integer", "minimum": 1, "maximum": 65535},
            "command": strings,
            "dataPath": {"type": "string", "pattern": "^/"},
            "migration": {
                "type": "object",
                "additionalProperties": False,
                "required": ["enabled", "command"],
                "properties": {"enabled": {"type": "boolean"}, "command": strings},
            },
            "replicaCount": {"type": "integer", "minimum": 1},
            "service": {
                "type": "object",
                "additionalProperties": False,
                "required": ["type", "port"],
                "properties": {
                    "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                },
            },
            "probes": {
                "type": "object",
                "additionalProperties": False,
                "required": sorted(deployment.probes),
                "properties": {kind: _probe() for kind in deployment.probes},
            },
            "resources": _quantities(),
            "autoscaling": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "enabled",
                    "minReplicas",
                    "maxReplicas",
                    "targetCPUUtilizationPercentage",
                ],
                "properties": {
                    "enabled": {"type": "boolean"},
                    "minReplicas": {"type": "integer", "minimum": 1},
                    "maxReplicas": {"type": "integer", "minimum": 1},
                    "targetCPUUtilizationPercentage": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 100,
                    },
                },
            },
            "podDisruptionBudget": {
                "type": "object",
                "additionalProperties": False,
                "maxProperties": 1,
                "properties": {
                    "minAvailable": {"type": "integer", "minimum": 0},
                    "maxUnavailable": {"type": "integer", "minimum": 1},
                },
            },
            "ingress": {
                "type": "object",
                "additionalProperties": False,
                "required": ["enabled", "className", "host", "tlsSecretName"],
                "properties": {
                    "enabled": {"type": "boolean"},
                    "className": {"type": "string"},
                    "host": {"type": "string"},
                    "tlsSecretName": {"type": "string"},
                    "paths": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "pattern": "^/"},
                    },
                },
                "if": {"properties": {"enabled": {"const": True}}},
                "then": {
                    "properties": {
                        "className": {"minLength": 1},
                        "host": {"minLength": 1},
                        "tlsSecretName": {"minLength": 1},
                    }
                },
            },
            "persistence": {
                "type": "object",
                "additionalProperties": False,
                "required": ["enabled"],
                "properties": {
                    "enabled": {"type": "boolean"},
                    "size": {"type": "string"},
                    "storageClassName": {"type": "string"},
                },
            },
            "config": {
                "type": "object",
                "propertyNames": {
                    "pattern": env_name,
                    "not": {"enum": list(CHART_SET_VARIABLES)},
                },
                "additionalProperties": {"type": "string"},
                "properties": {"APP_ENV": {"enum": sorted(deployment.environments)}},
            },
            "secret": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "keys"],
                "properties": {
                    "name": {"type": "string"},
                    "keys": {
                        "type": "array",
                        "uniqueItems": True,
                        "items": {"type": "string", "pattern": env_name},
                    },
                },
            },
            "securityContext": {
                "type": "object",
                "additionalProperties": False,
                "required": ["runAsUser"],
                "properties": {"runAsUser": {"type": "integer", "minimum": 1}},
            },
            "serviceAccount": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "create": {"type": "boolean"},
                    "name": {"type": "string"},
                    "annotations": open_object,
                },
            },
            "podAnnotations": open_object,
            "nodeSelector": open_object,
            "tolerations": {"type": "array"},
            "affinity": open_object,
        },
    }
