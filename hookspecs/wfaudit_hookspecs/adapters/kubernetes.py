"""Kubernetes manifests: the documents of a payload, their metadata, and secret references.

Argo Workflows and Tekton payloads are Kubernetes objects: one object, a list
of them (a multi-document YAML file, as ``wfaudit trigger`` reads it) or a
``v1`` ``List``. The references found here are Kubernetes secrets that the
manifests *name* (``secretKeyRef``, ``envFrom.secretRef``, ``imagePullSecrets``,
``secretName`` of a volume or a Tekton workspace, Argo's artifact credential
selectors such as ``accessKeySecret``); the secret objects themselves, when a
payload carries them, are left to the maskers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from wfaudit_hookspecs.canonical import checked_keys
from wfaudit_hookspecs.errors import InvalidRequest
from wfaudit_hookspecs.model import SecretReference, TriggerKind
from wfaudit_hookspecs.pointer import Path, to_pointer

from .adapter import Facts, PayloadFormat
from .identity import identity_value, label_value
from .walk import LEAVES, Link, is_container, path_of

__all__ = [
    "K8S_SECRET",
    "Document",
    "KubernetesFormat",
    "api_group",
    "documents",
    "find",
    "first_label",
    "labels_of",
    "metadata_of",
    "name_stem",
    "namespaced",
    "ref_name",
    "run_id",
    "secret_references",
]

K8S_SECRET = "k8s-secret"  # noqa: S105 - a reference kind, not a secret
"""The reference kind of a Kubernetes secret: name ``secret`` or ``secret/key``."""

Document = tuple[Path, dict[str, Any]]
"""A Kubernetes object of a payload, with its path in the payload."""

_SELECTOR_KEYS = frozenset({"name", "key", "optional", "namespace"})
_PROJECTED_KEYS = frozenset({"name", "items", "optional"})
# Keys whose value is a secret selector by the Kubernetes API itself.
_SELECTOR_FIELDS = frozenset({"secretKeyRef", "secretRef"})
_NAME_KEYS = frozenset({"name"})


def documents(config: Any) -> list[Document] | None:
    """The objects of a payload, or None unless every document is a Kubernetes object."""
    if isinstance(config, dict):
        items = config.get("items")
        if config.get("kind") == "List" and config.get("apiVersion") == "v1":
            if not isinstance(items, list):
                return None
            candidates: list[tuple[Path, Any]] = [(("items", i), d) for i, d in enumerate(items)]
        else:
            candidates = [((), config)]
    elif isinstance(config, list):
        candidates = [((i,), d) for i, d in enumerate(config)]
    else:
        return None
    out: list[Document] = []
    for path, doc in candidates:
        if not _is_object(doc):
            return None
        out.append((path, doc))
    return out or None


def _is_object(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("apiVersion"), str)
        and isinstance(doc.get("kind"), str)
    )


def api_group(doc: dict[str, Any]) -> str:
    """``argoproj.io`` for ``argoproj.io/v1alpha1``; ``""`` for the core group (``v1``)."""
    group, slash, _version = str(doc.get("apiVersion", "")).partition("/")
    return group if slash else ""


def find(docs: Iterable[Document], group: str, kinds: Iterable[str]) -> Document | None:
    """The first document of ``group`` whose kind comes first in ``kinds`` (a priority list)."""
    ours = [(path, doc) for path, doc in docs if api_group(doc) == group]
    for kind in kinds:
        for path, doc in ours:
            if doc.get("kind") == kind:
                return path, doc
    return None


def metadata_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The object's ``metadata`` (empty when it has none)."""
    metadata = doc.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def labels_of(doc: dict[str, Any]) -> dict[str, str]:
    """The object's ``metadata.labels`` that are strings."""
    labels = metadata_of(doc).get("labels")
    if not isinstance(labels, dict):
        return {}
    return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}


def first_label(labels: dict[str, str], keys: Iterable[str]) -> str | None:
    """The first of ``keys`` whose label holds a usable identity."""
    return next((v for v in (identity_value(labels.get(k)) for k in keys) if v), None)


def namespaced(doc: dict[str, Any], name: str | None) -> str | None:
    """``namespace/name`` when the object names its namespace, else ``name``."""
    if name is None:
        return None
    namespace = label_value(metadata_of(doc).get("namespace"))
    return identity_value(f"{namespace}/{name}" if namespace else name)


def ref_name(spec: Any, key: str) -> str | None:
    """The ``name`` of the reference ``spec[key]`` (a Tekton ``pipelineRef``, an
    Argo ``workflowTemplateRef``), when ``spec`` holds one with a usable name."""
    ref = spec.get(key) if isinstance(spec, dict) else None
    return identity_value(ref.get("name")) if isinstance(ref, dict) else None


def run_id(doc: dict[str, Any]) -> str | None:
    """The id of a run object: its ``metadata.uid``, else its (namespaced) name.

    A ``generateName`` alone is no id: the name is only chosen at creation.
    """
    metadata = metadata_of(doc)
    uid = identity_value(metadata.get("uid"))
    return uid or namespaced(doc, identity_value(metadata.get("name")))


def name_stem(doc: dict[str, Any]) -> str | None:
    """The object's name, or its ``generateName`` without the trailing dash."""
    metadata = metadata_of(doc)
    name = identity_value(metadata.get("name"))
    if name is not None:
        return name
    generate = metadata.get("generateName")
    return identity_value(generate.rstrip("-")) if isinstance(generate, str) else None


def secret_references(config: Any, rule_prefix: str) -> tuple[SecretReference, ...]:
    """Every Kubernetes secret a payload names, with the pointer of the naming node.

    The rule of each reference is ``<rule_prefix>.<field>`` (``argo.secretKeyRef``).
    References come in document order (a mapping's own, then its children's).

    This runs on every trigger over the whole payload, so the walk is built for
    speed: it is one loop over a stack, a node's path is a ``(key, parent)`` link
    (a pointer is built only for a hit), and a key is looked at only when it
    contains ``"ecret"``, which every key naming a secret does. On the engine's
    checked copy of a request, the key names are known already
    (:func:`~wfaudit_hookspecs.canonical.checked_keys`): without one that can name a
    secret, the walk is skipped.
    """
    found: dict[tuple[str, str], SecretReference] = {}
    if not isinstance(config, dict | list):
        return ()
    keys = checked_keys(config)
    if keys is not None and not any(map(_may_name_secret, keys)):
        return ()
    # (container, its link); children are pushed last first, so that they are
    # visited in order, parents before children (as iter_nodes yields them).
    stack: list[tuple[Any, Link]] = [(config, None)]
    push = stack.append
    pop = stack.pop
    while stack:
        node, link = pop()
        if type(node) is dict or isinstance(node, dict):
            named: list[tuple[Path, str, str]] | None = None
            for key, value in reversed(node.items()):
                kind = type(value)
                # Most values are strings: one comparison settles them.
                if kind is not str and (
                    kind is dict or kind is list or (kind not in LEAVES and is_container(value))
                ):
                    push((value, (key, link)))
                if (type(key) is str or isinstance(key, str)) and "ecret" in key:
                    hits = _named_secrets(node, link, key, value)
                    if hits:
                        named = hits if named is None else hits + named
            if named:
                for ref_path, name, field in named:
                    pointer = to_pointer(ref_path)
                    found.setdefault(
                        (pointer, name),
                        SecretReference(
                            path=pointer, kind=K8S_SECRET, name=name, rule=f"{rule_prefix}.{field}"
                        ),
                    )
        else:
            items = node if type(node) is list else list(node)
            index = len(items)
            for value in reversed(items):
                index -= 1
                kind = type(value)
                if kind is dict or kind is list or (kind not in LEAVES and is_container(value)):
                    push((value, (index, link)))
    return tuple(found.values())


def _named_secrets(
    node: dict[Any, Any], link: Link, key: str, value: Any
) -> list[tuple[Path, str, str]]:
    """``(path, secret name, field)`` for each secret that ``node``'s entry ``key`` names."""
    if key in _SELECTOR_FIELDS or _is_credential_selector(key):
        name = _selector(value, _SELECTOR_KEYS)
        return [] if name is None else [((*path_of(link), key), name, key)]
    if key == "secretName":
        if isinstance(value, str) and value.strip():
            # A volume's or a Tekton workspace's ``secret.secretName``.
            return [((*path_of(link), key), value.strip(), key)]
        return []
    if key == "imagePullSecrets" or (key == "secrets" and node.get("kind") == "ServiceAccount"):
        return _name_list(link, key, value)
    if key == "secret" and link is not None and link[1] is not None and link[1][0] == "sources":
        # A projected volume's source: ``projected.sources[].secret.name``.
        name = _selector(value, _PROJECTED_KEYS)
        return [] if name is None else [((*path_of(link), key), name, "projected")]
    return []


_NAMING_KEYS = frozenset({"secretName", "imagePullSecrets", "secrets", "secret"})
"""Keys that :func:`_named_secrets` reads besides selectors (keep the two in step)."""


def _may_name_secret(key: str) -> bool:
    """Whether :func:`_named_secrets` could find a secret under ``key``."""
    return key in _SELECTOR_FIELDS or key in _NAMING_KEYS or _is_credential_selector(key)


def _is_credential_selector(key: str) -> bool:
    # Argo's artifact credentials: accessKeySecret, passwordSecret, clientIDSecret ...
    # ("Secret" capitalised after a word; the value must still be a selector).
    return len(key) > 6 and key.endswith("Secret") and key[-7].isalnum()


def _name_list(link: Link, key: str, value: Any) -> list[tuple[Path, str, str]]:
    if not isinstance(value, list):
        return []
    out: list[tuple[Path, str, str]] = []
    for index, item in enumerate(value):
        name = _selector(item, _NAME_KEYS)
        if name is not None:
            out.append(((*path_of(link), key, index), name, key))
    return out


def _selector(value: Any, allowed: frozenset[str]) -> str | None:
    """``name`` or ``name/key`` of a secret selector; None for any other shape."""
    if not isinstance(value, dict) or not value.keys() <= allowed:
        return None
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    key = value.get("key")
    if key is None:
        return name.strip()
    if isinstance(key, str) and key.strip():
        return f"{name.strip()}/{key.strip()}"
    return None


class KubernetesFormat(PayloadFormat):
    """A format whose payload holds an object of :attr:`group` of one of :attr:`kinds`.

    Subclasses set :attr:`group` (the API group, e.g. ``tekton.dev``) and
    :attr:`kinds` (in priority order: the object that decides the identity is the
    first document of the first kind found); :meth:`main_document` finds it.
    """

    group: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]]

    def recognise(self, config: Any) -> bool:
        docs = documents(config)
        return docs is not None and any(
            api_group(doc) == self.group and doc.get("kind") in self.kinds for _, doc in docs
        )

    def main_document(self, config: Any) -> tuple[str, dict[str, Any]]:
        """The kind and the object that decides a recognised payload's identity."""
        found = find(documents(config) or (), self.group, self.kinds)
        if found is None:  # recognise() said yes: only a changed config gets here
            raise InvalidRequest(
                f"the {self.name} payload holds no {' or '.join(self.kinds)} object"
            )
        _, doc = found
        return str(doc["kind"]), doc

    def run_facts(
        self,
        config: Any,
        kind: str,
        doc: dict[str, Any],
        *,
        workflow_id: str | None,
        definition: tuple[str, str | None],
        triggered_by: str | None = None,
        trigger_kind: TriggerKind | None = None,
    ) -> Facts:
        """The facts of a payload whose :meth:`main_document` is ``doc``, of ``kind``.

        The pipeline is the definition the run executes (``definition``: its
        label name and value, e.g. ``("pipeline", "build")``), else the object's
        name stem, in the object's namespace; the labels are ``kind``,
        ``namespace`` and the definition (those without a value left out); the
        references are the Kubernetes secrets every document names.
        """
        label, name = definition
        labels: Mapping[str, str | None] = {
            "kind": kind,
            "namespace": label_value(metadata_of(doc).get("namespace")),
            label: name,
        }
        return Facts(
            workflow_id=workflow_id,
            pipeline_id=namespaced(doc, name or name_stem(doc)),
            triggered_by=triggered_by,
            trigger_kind=trigger_kind,
            labels={key: value for key, value in labels.items() if value is not None},
            references=secret_references(config, self.name),
        )
