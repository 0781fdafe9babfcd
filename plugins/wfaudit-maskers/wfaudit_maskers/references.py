"""Values that *refer* to a secret instead of holding one.

``${{ secrets.NPM_TOKEN }}``, ``$(params.token)``, ``$DB_PASSWORD`` or
``vault:secret/data/ci#token`` under a key named ``token`` are not secrets: the
orchestrator resolves them when the workflow runs. They stay in the snapshot and
are listed in the manifest, so masking them would only hide what a retrigger
needs.

A value counts as a reference only when it is *nothing but* references
(separators and an auth scheme word such as ``Bearer`` aside): ``hunter2${X}``
holds a literal that may be a secret, so it is masked.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

__all__ = [
    "Reference",
    "find_secret_expressions",
    "k8s_selector",
    "parse_reference",
]


class Reference(NamedTuple):
    """A reference to a secret: its kind (``github-secret``, ``env``, ``vault``...) and name."""

    kind: str
    name: str


# Template expressions, one alternative per syntax. Order matters: "${{" before
# "${" and "{{".
_EXPRESSION = re.compile(
    r"\$\{\{(?P<github>.*?)\}\}"  # GitHub Actions: ${{ secrets.X }}
    # Tekton: $(params.x), $(params["x"]), $(tasks.t.results.r)
    r"|\$\((?P<tekton>[A-Za-z_][\w-]*(?:\.[\w\-\[\]'\"*]+|\[['\"][^'\"\]]+['\"]\])+)\)"
    # Resolver references: ${cred:npm} (Jenkins-style credentials), ${ssm:/p},
    # ${vault:path}, ${env:X}: a scheme that names a secret store, then a name.
    r"|\$\{(?P<resolver>(?:cred|creds|credential|credentials|secret|secrets|vault|env|ssm"
    r"|ssm-secure|sm|kv|op|file):[^{}\s]+)\}"
    r"|\{\{(?P<template>[^{}\n]*)\}\}"  # Argo, Helm, Jinja: {{inputs.parameters.x}}
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}"  # shell: ${DB_PASSWORD}
    # Bare shell variables only in upper case: "$ecretPa55" is more likely a
    # password than a variable.
    r"|\$(?P<bare>[A-Z_][A-Z0-9_]*)(?![A-Za-z0-9_])",
    re.DOTALL,
)
_GITHUB_ONLY = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_GITHUB_SECRET = re.compile(
    r"\bsecrets\.(?P<dotted>[A-Za-z_][A-Za-z0-9_-]*)"
    r"|\bsecrets\[\s*['\"](?P<indexed>[^'\"]+)['\"]\s*\]"
    r"|\bgithub\.token\b"
    r"|\benv\.(?P<env>[A-Za-z_][A-Za-z0-9_]*)"
)
_AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "digest"})

# Secret-store URIs: the whole (stripped) value must match. One pattern, so that
# a value that is none of them (most secrets) costs one failed match.
_URI = re.compile(
    r"(?:ref\+)?vault:(?://)?(?P<vault>\S+)"
    r"|<path:(?P<vault_plugin>[^<>\s]+)>"  # argocd-vault-plugin
    r"|(?P<aws_secretsmanager>arn:aws[\w-]*:secretsmanager:\S+)"
    r"|(?P<aws_ssm>arn:aws[\w-]*:ssm:[^\s:]*:\d*:parameter/\S+)"
    r"|(?P<gcp_secretmanager>projects/[^/\s]+/secrets/[^/\s]+(?:/versions/[^/\s]+)?)"
    r"|(?P<azure_keyvault>https://[\w-]+\.vault\.azure\.net/secrets/[\w/-]+)"
    r"|@Microsoft\.KeyVault\((?P<azure_keyvault_ref>[^()\s]+)\)"
    r"|(?P<onepassword>op://\S+)"
)
_URI_KINDS = {
    "vault": "vault",
    "vault_plugin": "vault",
    "aws_secretsmanager": "aws-secretsmanager",
    "aws_ssm": "aws-ssm",
    "gcp_secretmanager": "gcp-secretmanager",
    "azure_keyvault": "azure-keyvault",
    "azure_keyvault_ref": "azure-keyvault",
    "onepassword": "onepassword",
}

_RESOLVER_KINDS = {"env": "env", "vault": "vault", "ssm": "aws-ssm", "ssm-secure": "aws-ssm"}

_SELECTOR_KEYS = frozenset({"name", "key", "optional", "namespace"})
_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_K8S_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")


def parse_reference(value: str) -> tuple[Reference, ...] | None:
    """Return the references a value consists of, or None if it holds anything else.

    >>> parse_reference("${{ secrets.NPM_TOKEN }}")
    (Reference(kind='github-secret', name='NPM_TOKEN'),)
    >>> parse_reference("hunter2") is None
    True
    """
    text = value.strip()
    if not text:
        return None
    uri = _URI.fullmatch(text)
    if uri is not None and uri.lastgroup is not None:
        return (Reference(_URI_KINDS[uri.lastgroup], uri[uri.lastgroup]),)
    if "$" not in text and "{{" not in text:
        return None
    refs: list[Reference] = []
    literal: list[str] = []
    position = 0
    for match in _EXPRESSION.finditer(text):
        literal.append(text[position : match.start()])
        position = match.end()
        refs.extend(_expression(match))
    literal.append(text[position:])
    if not refs or not _harmless("".join(literal)):
        return None
    return tuple(refs)


def _harmless(literal: str) -> bool:
    # What a value holds besides its references: nothing, separators
    # ("${USER}:${PASSWORD}"), or an auth scheme ("Bearer ${{ secrets.X }}").
    # Any other letter or digit may belong to a secret.
    rest = literal.strip()
    return rest.lower() in _AUTH_SCHEMES or not any(char.isalnum() for char in rest)


def find_secret_expressions(value: str) -> list[Reference]:
    """GitHub secret expressions anywhere in a string (a script, an argument).

    These are listed wherever they occur, since ``secrets.X`` names a secret
    unambiguously; other template expressions are only references when they
    stand where a secret would be.
    """
    if "${{" not in value:
        return []
    if "secrets" not in value and "github.token" not in value:
        return []  # ${{ matrix.os }}, ${{ steps.x.outputs.y }}: most expressions name no secret
    found: list[Reference] = []
    for match in _GITHUB_ONLY.finditer(value):
        found.extend(ref for ref in _github(match[1]) if ref.kind == "github-secret")
    return found


def k8s_selector(value: dict[str, Any]) -> str | None:
    """``secret`` or ``secret/key`` when ``value`` is a Kubernetes secret selector.

    A selector is ``{name, key?, optional?, namespace?}`` with Kubernetes-shaped
    names; anything else (an object that merely has a ``name``) returns None.
    """
    name = value.get("name")
    if not isinstance(name, str) or not _K8S_NAME.fullmatch(name):
        return None
    if not value.keys() <= _SELECTOR_KEYS:
        return None
    key = value.get("key")
    if key is None:
        return name
    if isinstance(key, str) and _K8S_KEY.fullmatch(key):
        return f"{name}/{key}"
    return None


def _expression(match: re.Match[str]) -> list[Reference]:
    group = match.lastgroup
    if group == "github":
        return _github(match["github"])
    if group == "tekton":
        return [Reference("template", match["tekton"])]
    if group == "resolver":
        scheme, _, name = match["resolver"].partition(":")
        return [Reference(_RESOLVER_KINDS.get(scheme, "credential"), name)]
    if group == "template":
        inner = match["template"].strip()
        return [Reference("template", inner)] if inner else []
    if group == "braced":
        return [Reference("env", match["braced"])]
    return [Reference("env", match["bare"])]


def _github(expression: str) -> list[Reference]:
    refs: list[Reference] = []
    for match in _GITHUB_SECRET.finditer(expression):
        if match["dotted"] or match["indexed"]:
            refs.append(Reference("github-secret", match["dotted"] or match["indexed"]))
        elif match["env"]:
            refs.append(Reference("env", match["env"]))
        else:
            # ${{ github.token }} is the automatic GITHUB_TOKEN secret.
            refs.append(Reference("github-secret", "GITHUB_TOKEN"))
    if not refs:
        inner = expression.strip()
        if inner:
            refs.append(Reference("template", inner))
    return refs
