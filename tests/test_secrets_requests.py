"""Realistic CI, pre-CD and post-CD requests with planted secrets of every family.

The builders here are shared by the ``test_secrets_*`` modules (imported as
``tests.test_secrets_requests``). The fake credentials come from the maskers'
``planted.py`` (every value pattern, every embedding, encoded forms, random
tokens); the requests put them where real workflow requests carry secrets, next
to what must survive masking: commit SHAs, image digests, UUIDs, secret
references and public URLs. No value here is a real credential.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import pathlib
import random
import sys
from types import ModuleType
from typing import Any, NamedTuple
from urllib.parse import quote

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _planted() -> ModuleType:
    name = "wfaudit_maskers_tests_planted"
    if name not in sys.modules:
        path = ROOT / "plugins" / "wfaudit-maskers" / "tests" / "planted.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


planted = _planted()

COMMIT = "3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f"
DIGEST = "sha256:4bc5e1f3a2d6c7b8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2"
RUN_UUID = "123e4567-e89b-12d3-a456-426614174000"
PUBLIC_URL = "https://github.com/acme/payments-api.git"


class Planting(NamedTuple):
    """A request and what was planted in it."""

    config: dict[str, Any]
    secrets: tuple[str, ...]
    """Every secret planted (to be found nowhere after masking)."""
    keep: dict[str, Any]
    """JSON pointer -> value that must come through untouched."""
    families: frozenset[str]
    """The rule families the planted secrets belong to."""


def _rng(seed: int) -> random.Random:
    return random.Random(seed)


def _password(rng: random.Random) -> str:
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(rng.choice(alphabet) for _ in range(12)) + rng.choice("!#%") + "9"


def _family(rule: str) -> str:
    return rule.split(":", 1)[0]


def _examples(index: int, of: int) -> list[Any]:
    examples = [*planted.format_examples(), *planted.embedded_examples()]
    return examples[index::of]


def _script_lines(examples: list[Any]) -> tuple[list[str], dict[str, str]]:
    """Script lines for the examples that read as commands, env values for the others."""
    lines: list[str] = []
    env: dict[str, str] = {}
    for number, example in enumerate(examples):
        if "\n" in example.text or example.text == example.secret:
            env[f"INTEGRATION_{number:02d}"] = example.text
        else:
            lines.append(example.text)
    return lines, env


def ci_request(seed: int = 1) -> Planting:
    """A Devtron-style CI workflow request with a GitHub Actions job inside."""
    rng = _rng(seed)
    examples = _examples(0, 3)
    lines, integrations = _script_lines(examples)
    docker_password = _password(rng)
    db_password = _password(rng)
    sonar = planted.FORMATS["sonarqube-token"](rng)
    git_token = planted.FORMATS["github-pat"](rng)
    s3_key_id = planted.FORMATS["aws-access-key-id"](rng)
    s3_secret = base64.b64encode(bytes(rng.randrange(256) for _ in range(30))).decode()
    config: dict[str, Any] = {
        "workflowNamePrefix": "1001-ci-7-payments-api",
        "pipelineName": "ci-payments-api",
        "pipelineId": 7,
        "workflowId": 1001,
        "ciImage": "quay.io/devtron/ci-runner:1290ad4d-138-20981",
        "ciProjectDetails": [
            {
                "gitRepository": PUBLIC_URL,
                "commitHash": COMMIT,
                "commitTime": "2024-05-01T10:00:00Z",
                "sourceValue": "main",
                "gitOptions": {
                    "userName": "ci-bot",
                    "accessToken": git_token,
                    "authMode": "ACCESS_TOKEN",
                },
            }
        ],
        "dockerRegistryURL": "registry.acme.example",
        "dockerRepository": "acme/payments-api",
        "dockerUsername": "robot$ci",
        "dockerPassword": docker_password,
        "blobStorageS3Config": {
            "accessKey": s3_key_id,
            "passkey": s3_secret,
            "endpointUrl": "https://s3.us-east-1.amazonaws.com",
            "ciLogBucketName": "acme-ci-logs",
        },
        "runId": RUN_UUID,
        "preCiSteps": [
            {
                "name": "integration",
                "inlineStepDetail": {
                    "scriptType": "SHELL",
                    "script": "set -euo pipefail\n" + "\n".join(lines) + "\nmake test\n",
                    "inputVariables": [
                        {"name": "SONAR_TOKEN", "value": sonar, "format": "STRING"},
                        {"name": "NPM_TOKEN", "value": "${{ secrets.NPM_TOKEN }}"},
                        {"name": "GOARCH", "value": "amd64"},
                    ],
                },
            }
        ],
        "runtimeEnvironmentVariables": {"DB_PASSWORD": db_password, **integrations},
        "workflow": {
            "name": "release",
            "on": {"push": {"tags": ["v*"]}},
            "permissions": {"id-token": "write", "contents": "read"},
            "jobs": {
                "publish": {
                    "runs-on": "ubuntu-latest",
                    "steps": [
                        {"uses": f"actions/checkout@{COMMIT}"},
                        {
                            "uses": "docker/login-action@v3",
                            "with": {
                                "registry": "ghcr.io",
                                "username": "${{ github.actor }}",
                                "password": "${{ secrets.GITHUB_TOKEN }}",
                            },
                        },
                        {
                            "name": "publish",
                            "run": f"docker push ghcr.io/acme/payments-api@{DIGEST}",
                            "env": {"NODE_AUTH_TOKEN": "${{ secrets.NPM_TOKEN }}"},
                        },
                    ],
                }
            },
        },
    }
    keep = {
        "/ciProjectDetails/0/commitHash": COMMIT,
        "/ciProjectDetails/0/gitRepository": PUBLIC_URL,
        "/runId": RUN_UUID,
        "/preCiSteps/0/inlineStepDetail/inputVariables/1/value": "${{ secrets.NPM_TOKEN }}",
        "/workflow/jobs/publish/steps/0/uses": f"actions/checkout@{COMMIT}",
        "/workflow/jobs/publish/steps/1/with/password": "${{ secrets.GITHUB_TOKEN }}",
        "/workflow/jobs/publish/steps/2/run": f"docker push ghcr.io/acme/payments-api@{DIGEST}",
        "/blobStorageS3Config/endpointUrl": "https://s3.us-east-1.amazonaws.com",
    }
    secrets = (
        docker_password, db_password, sonar, git_token, s3_key_id, s3_secret,
        *(e.secret for e in examples),
    )  # fmt: skip
    families = {"known-field", "keyword", *(_family(e.rule) for e in examples)}
    return Planting(config, secrets, keep, frozenset(families))


def pre_cd_request(seed: int = 2) -> Planting:
    """A pre-deployment request on Azure blob storage, with a kubeconfig and an Argo step."""
    rng = _rng(seed)
    examples = _examples(1, 3)
    lines, integrations = _script_lines(examples)
    account_key = base64.b64encode(bytes(rng.randrange(256) for _ in range(64))).decode()
    client_key = base64.b64encode(planted._pem(rng, "EC PRIVATE KEY").encode()).decode()
    sa_token = planted.FORMATS["kubernetes-sa-token"](rng)
    db_password = _password(rng)
    secret_manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: payments-db\ntype: Opaque\n"
        f"stringData:\n  password: {db_password}\n"
    )
    config: dict[str, Any] = {
        "workflowNamePrefix": "2001-pre-cd-3",
        "pipelineName": "cd-payments-prod",
        "stageType": "PRE",
        "ciArtifactDTO": {
            "image": f"registry.acme.example/acme/payments-api@{DIGEST}",
            "imageDigest": DIGEST,
            "materialInfo": json.dumps([{"url": PUBLIC_URL, "revision": COMMIT}]),
        },
        "azureBlobConfig": {
            "accountName": "acmecilogs",
            "accountKey": account_key,
            "blobContainerCiLog": "ci-logs",
        },
        "secretName": "payments-db",
        "kubeconfig": {
            "apiVersion": "v1",
            "clusters": [{"name": "prod", "cluster": {"server": "https://10.0.0.1:6443"}}],
            "users": [
                {"name": "ci", "user": {"token": sa_token}},
                {"name": "admin", "user": {"client-key-data": client_key}},
            ],
        },
        "prePostDeploySteps": [
            {
                "name": "migrate",
                "inlineStepDetail": {
                    "script": "#!/bin/sh\n" + "\n".join(lines) + "\n",
                    "inputVariables": [
                        {"name": "DB_PASSWORD", "value": "$(params.db-password)"},
                        {"name": "CHANGE_ID", "value": RUN_UUID},
                    ],
                },
            }
        ],
        "argoWorkflow": {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "spec": {
                "templates": [
                    {
                        "name": "create-secret",
                        "resource": {"action": "create", "manifest": secret_manifest},
                    },
                    {
                        "name": "smoke",
                        "container": {
                            "image": "curlimages/curl:8.7.1",
                            "env": [
                                {"name": "DB_PASSWORD", "valueFrom": {
                                    "secretKeyRef": {"name": "payments-db", "key": "password"}}},
                                *({"name": k, "value": v} for k, v in integrations.items()),
                            ],
                        },
                    },
                ]
            },
        },
    }  # fmt: skip
    keep = {
        "/ciArtifactDTO/imageDigest": DIGEST,
        "/ciArtifactDTO/materialInfo": json.dumps([{"url": PUBLIC_URL, "revision": COMMIT}]),
        "/secretName": "payments-db",
        "/prePostDeploySteps/0/inlineStepDetail/inputVariables/0/value": "$(params.db-password)",
        "/prePostDeploySteps/0/inlineStepDetail/inputVariables/1/value": RUN_UUID,
        "/kubeconfig/clusters/0/cluster/server": "https://10.0.0.1:6443",
    }
    secrets = (account_key, client_key, sa_token, db_password, *(e.secret for e in examples))
    families = {"known-field", "embedded", *(_family(e.rule) for e in examples)}
    return Planting(config, secrets, keep, frozenset(families))


def post_cd_request(seed: int = 3) -> Planting:
    """A post-deployment request on GCP blob storage, with a Tekton run and notifications."""
    rng = _rng(seed)
    examples = _examples(2, 3)
    lines, integrations = _script_lines(examples)
    private_key = planted._pem(rng, "PRIVATE KEY")
    credential = {
        "type": "service_account",
        "project_id": "acme-ci",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": private_key,
        "client_email": "ci@acme-ci.iam.gserviceaccount.com",
    }
    smtp_password = _password(rng)
    entropy = "".join(rng.choice(planted.ALNUM) for _ in range(40))
    webhook_password = _password(rng)
    config: dict[str, Any] = {
        "workflowNamePrefix": "3001-post-cd-3",
        "stageType": "POST",
        "gcpBlobConfig": {
            "credentialFileData": json.dumps(credential),
            "logBucketName": "acme-ci-logs",
        },
        "notifications": {
            "smtp": {"host": "smtp.acme.example", "port": 587, "password": smtp_password},
            "webhook": f"https://notify:{quote(webhook_password, safe='')}@hooks.acme.example/ci",
            "docs": "https://docs.acme.example/runbooks/deploy",
        },
        "tektonRun": {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "spec": {
                "params": [
                    {"name": "revision", "value": COMMIT},
                    {"name": "release-id", "value": entropy},
                    {"name": "api-key", "value": "$(params.api-key)"},
                ],
                "pipelineSpec": {
                    "tasks": [
                        {
                            "name": "verify",
                            "taskSpec": {
                                "steps": [
                                    {
                                        "name": "check",
                                        "image": f"ghcr.io/acme/verify@{DIGEST}",
                                        "script": "#!/usr/bin/env bash\n" + "\n".join(lines),
                                        "args": ["--password", _password(rng), "--verbose"],
                                    }
                                ]
                            },
                        }
                    ]
                },
            },
        },
        "extraEnvironmentVariables": integrations,
    }
    args = config["tektonRun"]["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"][0]["args"]
    keep = {
        "/notifications/docs": "https://docs.acme.example/runbooks/deploy",
        "/tektonRun/spec/params/0/value": COMMIT,
        "/tektonRun/spec/params/2/value": "$(params.api-key)",
        "/notifications/smtp/port": 587,
    }
    secrets = (
        private_key, smtp_password, entropy, webhook_password, args[1],
        *(e.secret for e in examples),
    )  # fmt: skip
    families = {
        "known-field",
        "keyword",
        "entropy",
        "embedded",
        *(_family(e.rule) for e in examples),
    }
    return Planting(config, secrets, keep, frozenset(families))


REQUESTS = {"CI": ci_request, "PRE_CD": pre_cd_request, "POST_CD": post_cd_request}


def forms(secret: str) -> set[str]:
    """A secret and its encoded forms, none of which may be stored."""
    raw = secret.encode()
    out = {
        secret,
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        quote(secret, safe=""),
    }
    return {form for form in out if len(form) >= 6}


def all_plantings() -> list[tuple[str, Planting]]:
    return [(kind, make()) for kind, make in REQUESTS.items()]


# -- tests of the builders themselves -------------------------------------------------------


def test_every_family_is_planted() -> None:
    families: set[str] = set()
    for _kind, planting in all_plantings():
        families |= planting.families
    assert families >= {"known-field", "keyword", "pattern", "embedded", "encoded", "entropy"}


def strings(node: Any) -> list[str]:
    """Every string leaf of a JSON document."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return [node] if isinstance(node, str) else []


def test_every_planted_secret_is_in_its_request() -> None:
    for kind, planting in all_plantings():
        leaves = strings(planting.config)
        for secret in planting.secrets:
            # as it is, inside a JSON string, or URL-encoded
            written = {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}
            assert any(w in leaf for leaf in leaves for w in written), (kind, secret[:20])


def test_plantings_are_deterministic() -> None:
    assert ci_request().config == copy.deepcopy(ci_request().config)
