"""Fake workflow requests for the masker tests and the benchmark.

Written for these tests, shaped like the real thing: Devtron CI / pre-CD /
post-CD workflow requests, a GitHub Actions job, a Kubernetes pod, a kubeconfig.
No value here is a real credential. Every fake secret string contains
:data:`MARK`, so a test can check that none survives masking.
"""

from __future__ import annotations

import copy
from typing import Any

MARK = "s3cr3t"
"""Every fake secret string contains this; nothing else does."""

GCP_CREDENTIAL = {
    "type": "service_account",
    "project_id": "acme-ci",
    "private_key_id": "0123456789abcdef",
    "private_key": f"-----BEGIN PRIVATE KEY-----\\n{MARK}-gcp-key\\n-----END PRIVATE KEY-----\\n",
    "client_email": "ci-logs@acme-ci.iam.gserviceaccount.com",
    "client_id": "100000000000000000001",
    "token_uri": "https://oauth2.googleapis.com/token",
}


def _git_material(index: int, *, token: bool) -> dict[str, Any]:
    options: dict[str, Any] = {
        "userName": "ci-bot",
        "password": "" if token else f"{MARK}-git-password-{index}",
        "sshPrivateKey": "",
        "accessToken": f"{MARK}-git-token-{index}" if token else "",
        "authMode": "ACCESS_TOKEN" if token else "USERNAME_PASSWORD",
    }
    return {
        "gitRepository": f"https://github.com/acme/service-{index}.git",
        "materialName": f"{index}-service-{index}",
        "checkoutPath": f"./service-{index}",
        "fetchSubmodules": False,
        "commitHash": f"{index:02d}f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6",
        "gitTag": "",
        "commitTime": "2024-05-01T10:00:00Z",
        "type": "SOURCE_TYPE_BRANCH_FIXED",
        "message": "Merge pull request #12 from acme/feature/cache",
        "author": "Dev Person <dev@example.com>",
        "gitOptions": options,
        "sourceType": "SOURCE_TYPE_BRANCH_FIXED",
        "sourceValue": "main",
    }


def _step(index: int, *, secret_var: bool) -> dict[str, Any]:
    variables: list[dict[str, Any]] = [
        {
            "name": "GOARCH",
            "value": "amd64",
            "format": "STRING",
            "description": "target architecture",
            "variableType": "VALUE",
        },
        {
            "name": "RETRIES",
            "value": "3",
            "format": "NUMBER",
            "description": "",
            "variableType": "VALUE",
        },
    ]
    if secret_var:
        variables.append(
            {
                "name": "SONAR_TOKEN",
                "value": f"{MARK}-sonar-{index}",
                "format": "STRING",
                "description": "token for the code scan",
                "variableType": "VALUE",
            }
        )
    return {
        "name": f"step-{index}",
        "index": index,
        "stepType": "INLINE",
        "executorType": "SHELL",
        "outputDirectoryPath": ["./reports"],
        "inlineStepDetail": {
            "scriptType": "SHELL",
            "script": "set -e\nmake test\n./scripts/publish-report.sh --dir ./reports\n",
            "inputVariables": variables,
            "outputVariables": [],
            "conditionDetails": [],
            "mountCodeToContainer": False,
        },
    }


def devtron_ci_request() -> dict[str, Any]:
    """A Devtron CI workflow request with S3 blob storage and docker registry creds."""
    return {
        "workflowNamePrefix": "42-ci-7-build",
        "pipelineName": "ci-service-build",
        "pipelineId": 7,
        "dockerImageTag": "a1b2c3d4-42",
        "dockerRegistryId": "acme-ecr",
        "dockerRegistryType": "ecr",
        "dockerRegistryURL": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "dockerConnection": "secure",
        "dockerCert": f"-----BEGIN CERTIFICATE-----\\n{MARK}-cert\\n-----END CERTIFICATE-----",
        "dockerRepository": "acme/service",
        "checkoutPath": "./",
        "dockerUsername": "AWS",
        "dockerPassword": f"{MARK}-docker-pw",
        "awsRegion": "us-east-1",
        "accessKey": f"{MARK}-registry-access-key",
        "secretKey": f"{MARK}-registry-secret-key",
        "ciCacheLocation": "ci-caching",
        "ciCacheRegion": "us-east-2",
        "ciProjectDetails": [_git_material(0, token=True), _git_material(1, token=False)],
        "containerResources": {"minCpu": "", "maxCpu": "", "minStorage": "", "maxStorage": ""},
        "activeDeadlineSeconds": 3600,
        "ciImage": "quay.io/devtron/ci-runner:1a2b3c4d",
        "namespace": "devtron-ci",
        "workflowId": 42,
        "triggeredBy": 2,
        "cacheLimit": 5000000000,
        "beforeDockerBuildScripts": None,
        "afterDockerBuildScripts": None,
        "ciArtifactLocation": "s3://devtron-ci-artifacts/42/artifact.zip",
        "scanEnabled": False,
        "cloudProvider": "S3",
        "blobStorageConfigured": True,
        "blobStorageS3Config": {
            "accessKey": f"{MARK}-s3-access-key",
            "passkey": f"{MARK}-s3-passkey",
            "endpointUrl": "https://s3.us-east-1.amazonaws.com",
            "isInSecure": False,
            "ciLogBucketName": "devtron-ci-logs",
            "ciLogRegion": "us-east-1",
            "ciLogBucketVersioning": True,
            "ciCacheBucketName": "ci-caching",
            "ciCacheRegion": "us-east-2",
            "ciCacheBucketVersioning": True,
            "ciArtifactBucketName": "devtron-ci-artifacts",
            "ciArtifactRegion": "us-east-1",
            "ciArtifactBucketVersioning": True,
        },
        "azureBlobConfig": None,
        "gcpBlobConfig": None,
        "blobStorageLogsKey": "devtron/ci-logs/42-ci-7-build",
        "inAppLoggingEnabled": False,
        "preCiSteps": [_step(1, secret_var=True)],
        "postCiSteps": [_step(2, secret_var=False)],
        "refPlugins": [],
        "appName": "service",
        "triggerByAuthor": "admin",
        "ciBuildConfig": {
            "id": 3,
            "gitMaterialId": 1,
            "buildContextGitMaterialId": 1,
            "useRootBuildContext": True,
            "ciBuildType": "self-dockerfile-build",
            "dockerBuildConfig": {
                "dockerfileRelativePath": "Dockerfile",
                "args": {"GO_VERSION": "1.22", "NPM_TOKEN": f"{MARK}-npm-build-arg"},
                "targetPlatform": "linux/amd64",
                "buildContext": "",
            },
        },
        "ignoreDockerCachePush": False,
        "ignoreDockerCachePull": False,
        "cacheInvalidate": False,
        "IsPvcMounted": False,
        "extraEnvironmentVariables": {
            "CI_PIPELINE_NAME": "ci-service-build",
            "DB_PASSWORD": f"{MARK}-db-password",
            "GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}",
        },
        "enableBuildContext": False,
        "appId": 12,
        "environmentId": 0,
        "orchestratorHost": "http://devtron-service.devtroncd/webhook/msg/nats",
        "orchestratorToken": f"{MARK}-orchestrator-token",
        "isExtRun": False,
        "imageRetryCount": 0,
        "imageRetryInterval": 5,
        "registryCredentialMap": {
            "acme-harbor": {
                "username": "robot$ci",
                "password": f"{MARK}-harbor-password",
                "awsRegion": "",
                "accessKey": "",
                "secretKey": "",
                "registryUrl": "harbor.acme.example",
                "dockerRegistryType": "other",
            }
        },
        "pluginArtifactStage": "",
        "pushImageBeforePostCI": False,
        "useDockerApiToGetDigest": False,
        "hostUrl": "https://devtron.acme.example",
    }


DEVTRON_CI_MASKED = {
    "/dockerCert": ("known-field", None),
    "/dockerPassword": ("known-field", None),
    "/accessKey": ("known-field", None),
    "/secretKey": ("known-field", None),
    "/ciProjectDetails/0/gitOptions/accessToken": ("known-field", None),
    "/ciProjectDetails/1/gitOptions/password": ("keyword", None),
    "/blobStorageS3Config/accessKey": ("known-field", None),
    "/blobStorageS3Config/passkey": ("known-field", None),
    "/preCiSteps/0/inlineStepDetail/inputVariables/2/value": ("keyword", None),
    "/ciBuildConfig/dockerBuildConfig/args/NPM_TOKEN": ("keyword", None),
    "/extraEnvironmentVariables/DB_PASSWORD": ("keyword", "DB_PASSWORD"),
    "/orchestratorToken": ("keyword", None),
    "/registryCredentialMap/acme-harbor/password": ("keyword", None),
}
"""pointer -> (rule, env restore target) of everything masked in :func:`devtron_ci_request`."""


def devtron_cd_request(stage: str) -> dict[str, Any]:
    """A Devtron pre-CD (``PRE``) or post-CD (``POST``) request on Azure or GCP blob storage."""
    on_gcp = stage == "POST"
    return {
        "workflowNamePrefix": f"88-{stage.lower()}-cd-3",
        "pipelineName": "cd-service-prod",
        "workflowRunnerId": 88,
        "cdPipelineId": 3,
        "stageYaml": "version: 0.0.1\ncdPipelineConf:\n  - beforeTasks:\n    - name: smoke\n",
        "artifactLocation": "s3://devtron-ci-artifacts/42/artifact.zip",
        "ciArtifactDTO": {
            "id": 17,
            "pipelineId": 7,
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/service:a1b2c3d4-42",
            "imageDigest": "sha256:" + "ab" * 32,
            "materialInfo": '[{"url":"https://github.com/acme/service-0.git","branch":"main"}]',
            "dataSource": "CI-RUNNER",
            "workflowId": 42,
        },
        "cdImage": "quay.io/devtron/cd-runner:5e6f7a8b",
        "stageType": stage,
        "namespace": "devtron-cd",
        "workflowExecutor": "AWF",
        "prePostDeploySteps": [
            {
                "name": "db-migrate",
                "index": 1,
                "stepType": "INLINE",
                "inlineStepDetail": {
                    "scriptType": "CONTAINER_IMAGE",
                    "containerImagePath": "migrate/migrate:v4.17.0",
                    "commandArgsMap": [
                        {"command": "migrate", "args": ["-path", "/migrations", "up"]}
                    ],
                    "inputVariables": [
                        {"name": "DATABASE_URL_SECRET_NAME", "value": "prod-db-url"},
                        {"name": "DB_PASSWORD", "value": "$(params.db-password)"},
                        {"name": "MIGRATION_TOKEN", "value": 987654},
                        {"name": "DRY_RUN", "value": False},
                    ],
                },
            }
        ],
        "cloudProvider": "GCP" if on_gcp else "AZURE",
        "blobStorageConfigured": True,
        "blobStorageS3Config": None,
        "azureBlobConfig": None
        if on_gcp
        else {
            "enabled": True,
            "accountName": "acmecilogs",
            "blobContainerCiLog": "ci-logs",
            "blobContainerCiCache": "ci-cache",
            "accountKey": f"{MARK}-azure-account-key",
        },
        "gcpBlobConfig": {
            "credentialFileData": copy.deepcopy(GCP_CREDENTIAL),
            "cacheBucketName": "acme-ci-cache",
            "logBucketName": "acme-ci-logs",
            "artifactBucketName": "acme-ci-artifacts",
        }
        if on_gcp
        else None,
        "dockerRegistryId": "acme-ecr",
        "dockerUsername": "AWS",
        "dockerPassword": f"{MARK}-docker-pw",
        "dockerCert": "",
        "deploymentTriggeredBy": "admin",
        "deploymentTriggerTime": "2024-05-01T10:05:00Z",
        "deploymentReleaseCounter": 4,
        "useExternalClusterBlob": False,
    }


def github_actions_job() -> dict[str, Any]:
    """A GitHub Actions-like job: env blocks, `with:` inputs, reusable-workflow secrets."""
    return {
        "name": "release",
        "on": {"push": {"tags": ["v*"]}},
        "permissions": {"contents": "write", "id-token": "write", "packages": "write"},
        "env": {
            "REGISTRY": "ghcr.io",
            "NPM_TOKEN": "${{ secrets.NPM_TOKEN }}",
            "GH_TOKEN": "${{ github.token }}",
            "SENTRY_AUTH_TOKEN": f"{MARK}-sentry-token",
            "TOKEN_EXPIRY_SECONDS": 3600,
            "PASSWORDLESS": True,
            "PWD": "/home/runner/work/app",
        },
        "jobs": {
            "publish": {
                "runs-on": "ubuntu-latest",
                "environment": {"name": "production", "url": "https://app.example"},
                "steps": [
                    {"uses": "actions/checkout@v4", "with": {"persist-credentials": "false"}},
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
                        "run": "npm publish --provenance\necho ${{ secrets.SLACK_WEBHOOK }}",
                        "env": {"NODE_AUTH_TOKEN": f"{MARK}-npm-token", "tokenizer": "bpe"},
                    },
                ],
            },
            "deploy": {
                "uses": "acme/workflows/.github/workflows/deploy.yml@main",
                "secrets": "inherit",
            },
        },
    }


def kubernetes_pod() -> dict[str, Any]:
    """A pod spec: env name/value pairs, secretKeyRef, envFrom, secret volumes."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ci-runner-42", "labels": {"app": "ci-runner"}},
        "spec": {
            "imagePullSecrets": [{"name": "regcred"}],
            "containers": [
                {
                    "name": "runner",
                    "image": "quay.io/devtron/ci-runner:1a2b3c4d",
                    "args": ["--verbose"],
                    "env": [
                        {"name": "LOG_LEVEL", "value": "debug"},
                        {"name": "DB_PASSWORD", "value": f"{MARK}-pod-db-password"},
                        {"name": "AWS_SECRET_ACCESS_KEY", "value": f"{MARK}-pod-aws-secret"},
                        {"name": "API_TOKEN", "value": "${API_TOKEN_FROM_NODE}"},
                        {
                            "name": "REDIS_PASSWORD",
                            "valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}},
                        },
                        {"name": "SECRET_NAME", "value": "ci-secrets"},
                    ],
                    "envFrom": [{"secretRef": {"name": "ci-env"}}],
                    "volumeMounts": [{"name": "tls", "mountPath": "/etc/tls", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "tls", "secret": {"secretName": "ci-tls"}}],
        },
    }


def kubeconfig() -> dict[str, Any]:
    """A kubeconfig as a workflow request carries it (an external cluster's credentials)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "prod",
                "cluster": {
                    "server": "https://10.0.0.1:6443",
                    "certificate-authority-data": "LS0tLS1CRUdJTiBDRVJU",
                },
            }
        ],
        "users": [
            {"name": "ci", "user": {"token": f"{MARK}-kube-token"}},
            {
                "name": "admin",
                "user": {
                    "client-certificate-data": "LS0tLS1CRUdJTiBDRVJU",
                    "client-key-data": f"{MARK}-kube-client-key",
                },
            },
        ],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "ci"}}],
        "current-context": "prod",
    }


def large_ci_request(target_bytes: int = 50_000) -> dict[str, Any]:
    """A Devtron CI request grown to about ``target_bytes`` of JSON: many git
    materials, steps with scripts and variables, and a long environment."""
    import json

    request = devtron_ci_request()
    index = 2
    while len(json.dumps(request)) < target_bytes:
        request["ciProjectDetails"].append(_git_material(index, token=index % 2 == 0))
        request["preCiSteps"].append(_step(index, secret_var=index % 3 == 0))
        request["postCiSteps"].append(_step(index + 1000, secret_var=False))
        request["extraEnvironmentVariables"][f"FEATURE_FLAG_{index}"] = "enabled"
        request["appLabels"] = {f"label-{i}": f"value-{i}" for i in range(index)}
        index += 1
    return request
