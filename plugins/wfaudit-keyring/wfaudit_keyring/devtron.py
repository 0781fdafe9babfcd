"""The Devtron restore profile: where a Devtron request's secrets are found again,
by convention, so that a retrigger needs no hand mapping.

Devtron keeps its registry and blob-storage credentials in its own database and
writes them into every workflow request; wfaudit masks them (and the git
credentials, secret step variables and anything else secret-named). The
profile names one environment variable and one keyring entry for each masked
field of a snapshot taken by the ``devtron`` adapter: the variable
``DEVTRON_<NAME>``, then the keyring entry ``devtron/<NAME>``, where NAME is

* ``/dockerPassword``: ``REGISTRY_<ID>_DOCKER_PASSWORD``, then ``DOCKER_PASSWORD``;
  ``/accessKey``, ``/secretKey``, ``/dockerCert`` likewise, with
  ``REGISTRY_ACCESS_KEY``, ``REGISTRY_SECRET_KEY`` and ``DOCKER_CERT``;
* ``/blobStorageS3Config/accessKey`` and ``/passkey``: ``BLOB_S3_ACCESS_KEY``,
  ``BLOB_S3_PASSKEY``; ``/azureBlobConfig/accountKey``: ``AZURE_ACCOUNT_KEY``;
  ``/gcpBlobConfig/credentialFileData``: ``GCP_CREDENTIAL_FILE_DATA``;
* ``/ciProjectDetails/<n>/gitOptions/<field>``: ``GIT_<MATERIAL>_<FIELD>``, then
  ``GIT_<FIELD>`` (``GIT_PASSWORD``, ``GIT_ACCESS_TOKEN``, ``GIT_SSH_PRIVATE_KEY``);
* a secret step variable (``.../inputVars/<m>/value`` named ``X``): ``VAR_<X>``;
* any other masked field: ``SECRET_<POINTER>``.

``<ID>`` is the request's ``dockerRegistryId`` and ``<MATERIAL>`` the git
material's ``materialName``; ``<POINTER>`` is the field's JSON pointer. Each is
upper-cased, camelCase split into words and every run of other characters made
one ``_`` (``ecr-prod`` → ``ECR_PROD``, ``/apiToken`` → ``API_TOKEN``). The
scoped name (a registry's, a material's) is tried before the shared one, the
environment before the keyring. A secret inside a string (a span) has no
conventional name: map it in ``[tool.wfaudit.restore]``.

The profile applies to snapshots of the ``devtron`` adapter while
``[tool.wfaudit.restore] profiles`` lists ``"devtron"`` (the default); explicit
mappings and the masker's restore references are tried before it.
"""

from __future__ import annotations

import re
from typing import Any

from wfaudit_hookspecs import SecretRequest, Snapshot, WfauditError, parse_pointer
from wfaudit_hookspecs.pointer import get_at

__all__ = ["ADAPTER", "ENV_PREFIX", "KEYRING_SERVICE", "PROFILE", "names"]

PROFILE = "devtron"
ADAPTER = "devtron"
"""The adapter (payload format) whose snapshots the profile applies to."""
ENV_PREFIX = "DEVTRON_"
KEYRING_SERVICE = "devtron"

_REGISTRY_FIELDS = {
    "dockerPassword": "DOCKER_PASSWORD",
    "accessKey": "REGISTRY_ACCESS_KEY",
    "secretKey": "REGISTRY_SECRET_KEY",
    "dockerCert": "DOCKER_CERT",
}
_FIXED = {
    ("blobStorageS3Config", "accessKey"): "BLOB_S3_ACCESS_KEY",
    ("blobStorageS3Config", "passkey"): "BLOB_S3_PASSKEY",
    ("azureBlobConfig", "accountKey"): "AZURE_ACCOUNT_KEY",
    ("gcpBlobConfig", "credentialFileData"): "GCP_CREDENTIAL_FILE_DATA",
    ("gcpBlobConfig", "credentialFileJsonData"): "GCP_CREDENTIAL_FILE_DATA",
}
_STEP_LISTS = frozenset({"preCiSteps", "postCiSteps", "prePostDeploySteps"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_OTHER = re.compile(r"[^A-Za-z0-9]+")


def word(text: str) -> str:
    """``ecr-prod`` → ``ECR_PROD``, ``accessToken`` → ``ACCESS_TOKEN``."""
    return _OTHER.sub("_", _CAMEL.sub("_", text)).strip("_").upper()


def _at(config: Any, *tokens: str | int) -> Any:
    node = config
    for token in tokens:
        if isinstance(node, dict) and isinstance(token, str):
            node = node.get(token)
        elif isinstance(node, list) and isinstance(token, int) and 0 <= token < len(node):
            node = node[token]
        else:
            return None
    return node


def _scope(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = word(str(value))
        return text or None
    return None


def names(snapshot: Snapshot, request: SecretRequest) -> list[str]:
    """The conventional NAMEs of a masked field, most specific first (empty: none)."""
    if request.span is not None or request.encoding == "key":
        return []
    config = snapshot.config
    try:
        path = parse_pointer(request.path, config)
        get_at(config, path)
    except (KeyError, IndexError, TypeError, ValueError, WfauditError):
        return []
    tokens = list(path)
    if len(tokens) == 1 and tokens[0] in _REGISTRY_FIELDS:
        shared = _REGISTRY_FIELDS[str(tokens[0])]
        registry = _scope(_at(config, "dockerRegistryId"))
        return [f"REGISTRY_{registry}_{shared}", shared] if registry else [shared]
    if len(tokens) == 2 and (tokens[0], tokens[1]) in _FIXED:
        return [_FIXED[(str(tokens[0]), str(tokens[1]))]]
    if (
        len(tokens) == 4
        and tokens[0] == "ciProjectDetails"
        and tokens[2] == "gitOptions"
        and isinstance(tokens[3], str)
    ):
        field = word(tokens[3])
        material = _scope(_at(config, "ciProjectDetails", tokens[1], "materialName"))
        shared = f"GIT_{field}"
        return [f"GIT_{material}_{field}", shared] if material else [shared]
    if (
        len(tokens) == 5
        and tokens[0] in _STEP_LISTS
        and tokens[2] == "inputVars"
        and tokens[4] == "value"
    ):
        variable = _scope(_at(config, tokens[0], tokens[1], "inputVars", tokens[3], "name"))
        if variable:
            return [f"VAR_{variable}"]
    pointer = word(request.path)
    return [f"SECRET_{pointer}"] if pointer else []
