"""Whole fake requests: Devtron CI / pre-CD / post-CD, GitHub Actions, a pod, a kubeconfig.

Each test checks the exact set of masked paths (so that a false positive fails
as surely as a leak), the references, and that no fake secret survives masking.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest


def test_devtron_ci_request(scan: Any, fakes: ModuleType) -> None:
    context = scan(fakes.devtron_ci_request())
    assert context.leaked(fakes.MARK) == []
    expected = fakes.DEVTRON_CI_MASKED
    assert context.masked == {pointer: rule for pointer, (rule, _) in expected.items()}
    assert context.restores == {pointer: target for pointer, (_, target) in expected.items()}
    assert context.references == {
        ("/extraEnvironmentVariables/GITHUB_TOKEN", "github-secret", "GITHUB_TOKEN")
    }
    applied = context.applied()
    # What must stay readable in the snapshot.
    assert applied["dockerUsername"] == "AWS"
    assert applied["triggerByAuthor"] == "admin"
    assert applied["blobStorageS3Config"]["endpointUrl"] == "https://s3.us-east-1.amazonaws.com"
    assert applied["ciProjectDetails"][0]["gitOptions"]["authMode"] == "ACCESS_TOKEN"
    assert applied["ciProjectDetails"][0]["gitOptions"]["userName"] == "ci-bot"


@pytest.mark.parametrize("stage", ["PRE", "POST"])
def test_devtron_cd_requests(scan: Any, fakes: ModuleType, stage: str) -> None:
    context = scan(fakes.devtron_cd_request(stage))
    assert context.leaked(fakes.MARK) == []
    blob = (
        {"/gcpBlobConfig/credentialFileData": "known-field"}
        if stage == "POST"
        else {"/azureBlobConfig/accountKey": "known-field"}
    )
    assert context.masked == {
        "/dockerPassword": "known-field",
        "/prePostDeploySteps/0/inlineStepDetail/inputVariables/2/value": "keyword",  # a number
        **blob,
    }
    assert context.references == {
        (
            "/prePostDeploySteps/0/inlineStepDetail/inputVariables/1/value",
            "template",
            "params.db-password",
        )
    }


def test_github_actions_job(scan: Any, fakes: ModuleType) -> None:
    context = scan(fakes.github_actions_job())
    assert context.leaked(fakes.MARK) == []
    assert context.masked == {
        "/env/SENTRY_AUTH_TOKEN": "keyword",
        "/jobs/publish/steps/2/env/NODE_AUTH_TOKEN": "keyword",
    }
    assert context.restores == {
        "/env/SENTRY_AUTH_TOKEN": "SENTRY_AUTH_TOKEN",
        "/jobs/publish/steps/2/env/NODE_AUTH_TOKEN": "NODE_AUTH_TOKEN",
    }
    assert context.references == {
        ("/env/NPM_TOKEN", "github-secret", "NPM_TOKEN"),
        ("/env/GH_TOKEN", "github-secret", "GITHUB_TOKEN"),
        ("/jobs/publish/steps/1/with/password", "github-secret", "GITHUB_TOKEN"),
        ("/jobs/publish/steps/2/run", "github-secret", "SLACK_WEBHOOK"),
    }


def test_kubernetes_pod(scan: Any, fakes: ModuleType) -> None:
    context = scan(fakes.kubernetes_pod())
    assert context.leaked(fakes.MARK) == []
    env = "/spec/containers/0/env"
    assert context.masked == {f"{env}/1/value": "keyword", f"{env}/2/value": "known-field"}
    assert context.restores == {
        f"{env}/1/value": "DB_PASSWORD",
        f"{env}/2/value": "AWS_SECRET_ACCESS_KEY",
    }
    assert context.references == {
        (f"{env}/3/value", "env", "API_TOKEN_FROM_NODE"),
        (f"{env}/4/valueFrom/secretKeyRef", "k8s-secret", "redis/password"),
        ("/spec/containers/0/envFrom/0/secretRef", "k8s-secret", "ci-env"),
        ("/spec/imagePullSecrets/0", "k8s-secret", "regcred"),
        ("/spec/volumes/0/secret/secretName", "k8s-secret", "ci-tls"),
    }


def test_kubeconfig(scan: Any, fakes: ModuleType) -> None:
    context = scan(fakes.kubeconfig())
    assert context.leaked(fakes.MARK) == []
    assert context.masked == {
        "/users/0/user/token": "known-field",
        "/users/1/user/client-key-data": "known-field",
        # A certificate is masked like Devtron's dockerCert; the CA is not a "cert" name.
        "/users/1/user/client-certificate-data": "keyword",
    }


def test_large_request(scan: Any, fakes: ModuleType) -> None:
    request = fakes.large_ci_request()
    context = scan(request)
    assert context.leaked(fakes.MARK) == []
    assert len(context.marks) > len(fakes.DEVTRON_CI_MASKED)
