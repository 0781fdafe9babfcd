"""Every Devtron secret field is masked under the JSON name Devtron really sends.

Devtron's own sanitiser (the requirement document) names Go struct fields; the
request carries their ``json`` tags. The table below is each field with the tag
of its struct in Devtron's source (``pkg/pipeline/types/Workflow.go``,
``pkg/pipeline/types/blob_storage``: ``GcpBlobConfig.CredentialFileJsonData`` is
sent as ``credentialFileData``). Values match no pattern, so only the field's
name can mask them.
"""

from __future__ import annotations

from typing import Any

import pytest

# Go field (as the requirement names it) -> the JSON path Devtron sends.
DEVTRON_FIELDS: dict[str, tuple[str, ...]] = {
    "BlobStorageS3Config.AccessKey": ("blobStorageS3Config", "accessKey"),
    "BlobStorageS3Config.Passkey": ("blobStorageS3Config", "passkey"),
    "AzureBlobConfig.AccountKey": ("azureBlobConfig", "accountKey"),
    "GcpBlobConfig.CredentialFileJsonData": ("gcpBlobConfig", "credentialFileData"),
    "DockerPassword": ("dockerPassword",),
    "AccessKey": ("accessKey",),
    "SecretKey": ("secretKey",),
    "DockerCert": ("dockerCert",),
    "GitOptions.Password": ("ciProjectDetails", 0, "gitOptions", "password"),
    "GitOptions.SSHKey": ("ciProjectDetails", 0, "gitOptions", "sshKey"),
    "GitOptions.AccessToken": ("ciProjectDetails", 0, "gitOptions", "accessToken"),
}

PLAIN = "plain words nobody could recognise"


def _config(path: tuple[str | int, ...], value: Any) -> Any:
    node: Any = value
    for key in reversed(path):
        node = [node] if isinstance(key, int) else {key: node}
    return node


@pytest.mark.parametrize("field", sorted(DEVTRON_FIELDS))
def test_devtron_field_is_masked_under_its_json_tag(scan: Any, field: str) -> None:
    path = DEVTRON_FIELDS[field]
    context = scan(_config(path, PLAIN))
    pointer = "/" + "/".join(map(str, path))
    assert pointer in context.masked, field


def test_gcp_credential_as_object_or_string_is_masked_whole(scan: Any) -> None:
    credential = {"type": "service_account", "project_id": "demo", "client_email": "a@b.c"}
    for value in (credential, '{"type": "service_account", "project_id": "demo"}'):
        context = scan({"gcpBlobConfig": {"credentialFileData": value, "bucketName": "logs"}})
        assert context.masked == {"/gcpBlobConfig/credentialFileData": "known-field"}
