"""The masking rules. Each rule inspects the nodes of one walk (see ``masker.py``).

A rule says which key names it wants (:meth:`Rule.wants`, asked once per distinct
name), and is then called only for the entries under those names
(:meth:`Rule.check`). A rule that scans string values (``scans_strings``) is also
called for the strings no rule has settled (:meth:`Rule.check_string`). That is
where later families slot in: value patterns, secrets embedded in URLs and
headers, encoded and high-entropy strings are string rules (marking spans with
``context.mask(path, span=...)``); none of them needs a walk of its own.

Both calls receive ``holder``, the class of the key holding the container (the
``env`` of ``env: {DB_PASSWORD: ...}``, or of ``env: [{name, value}]`` for the
pairs in that list): the walk knows it already, so no rule has to look it up.

Rule names are what ``disable`` lists and what the manifest records.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from wfaudit_hookspecs import MaskContext, Path

from .names import NameClass, NameClassifier
from .references import Reference, find_secret_expressions, k8s_selector, parse_reference
from .restore import env_restore
from .values import is_public_key

__all__ = [
    "RULES",
    "RULE_NAMES",
    "KeywordRule",
    "KnownFieldRule",
    "NameRule",
    "PairRule",
    "ReferenceRule",
    "Rule",
    "child",
]

Key = str | int
Container = dict[str, Any] | list[Any]


def child(path: Path, key: Key | None) -> Path:
    """The path of ``key`` inside the node at ``path`` (``path`` itself for the root)."""
    return path if key is None else (*path, key)


class Rule:
    """Base class of the rules: by default a rule wants nothing and finds nothing.

    :param names: the masker's name classifier, shared by its rules.
    """

    name: ClassVar[str]
    """The rule's name, as ``disable`` lists it and the manifest records it."""
    scans_strings: ClassVar[bool] = False
    """Whether :meth:`check_string` must be called for unsettled strings."""
    string_needle: ClassVar[str] = ""
    """:meth:`check_string` is called only for strings containing this (``""``: all).
    A cheap substring test the walk makes inline, before paying for a call."""
    string_words: ClassVar[tuple[str, ...]] = ()
    """When not empty, :meth:`check_string` is called only for strings that also
    contain one of these: a second test, made only for the strings holding
    :attr:`string_needle`, that must never be stricter than the rule itself."""

    def __init__(self, names: NameClassifier) -> None:
        self.names = names

    def wants(self, name: NameClass) -> bool:
        """Whether :meth:`check` must be called for entries with this name."""
        return False

    def check(
        self,
        context: MaskContext,
        path: Path,
        key: Key,
        value: Any,
        container: Container,
        name: NameClass,
        holder: NameClass,
    ) -> bool:
        """Inspect ``value``, the entry ``key`` of ``container`` at ``path``.

        :param name: the class of ``key``; for the items of a list, the class of
            the list's own key (``tokens: ["a", "b"]`` holds two tokens).
        :param holder: the class of the key holding ``container``.
        :returns: True when the entry is settled (masked, a reference, or known
            harmless): no later rule sees it and the walk does not descend into it.
        """
        return False

    def check_string(
        self, context: MaskContext, path: Path, key: Key | None, value: str, holder: NameClass
    ) -> None:
        """Inspect a string no rule has settled: the entry ``key`` of the container at
        ``path`` (``key`` is None for a config that is a bare string)."""


class NameRule(Rule, abc.ABC):
    """A rule that finds secrets by the name of their key (or of a sibling ``name``,
    through :class:`PairRule`)."""

    whole_objects: ClassVar[bool] = False
    """Mask an object or list value whole, instead of descending into it."""

    @abc.abstractmethod
    def names_secret(self, name: NameClass) -> bool:
        """Whether this rule takes a value with this name for a secret."""

    def claims_pair(self, label: NameClass) -> bool:
        """Whether this rule takes the ``value`` of a ``{name: label}`` pair for a secret."""
        return self.names_secret(label)

    def wants(self, name: NameClass) -> bool:
        return self.names_secret(name)

    def applies(self, name: NameClass, holder: NameClass) -> bool:
        """Whether a value named ``name`` in a container held by ``holder`` is secret."""
        return self.names_secret(name) and not holder.secretless_block

    def check(
        self,
        context: MaskContext,
        path: Path,
        key: Key,
        value: Any,
        container: Container,
        name: NameClass,
        holder: NameClass,
    ) -> bool:
        if not self.applies(name, holder):
            return False
        return self.claim(context, (*path, key), value, name, holder, key)

    def claim(
        self,
        context: MaskContext,
        path: Path,
        value: Any,
        name: NameClass,
        holder: NameClass,
        variable: object,
    ) -> bool:
        """Settle the value at ``path``, taken for a secret by its name.

        Strings and numbers are masked unless they are references (listed
        instead) or empty; flags and nulls are left alone; objects and lists are
        masked whole or descended into, as :attr:`whole_objects` says.

        :param holder: the class of the key holding the value's container, and
        :param variable: the variable the value would be in it, for an env restore.
        :returns: whether the value is settled (see :meth:`Rule.check`).
        """
        if value is None or value is True or value is False:
            return True  # flags and absent values hold no secret
        if isinstance(value, str):
            if not value or value.isspace():
                return True
            refs = parse_reference(value)
            if refs is not None:
                _report(context, path, refs, self.name)
                return True
            if is_public_key(value):
                return True  # DEPLOY_KEY_PUB: ssh-ed25519 AAAA...: public, not secret
            return self._mask(context, path, holder, variable)
        if isinstance(value, int | float):
            return self._mask(context, path, holder, variable)
        if isinstance(value, dict):
            if name.secret_object:
                selector = k8s_selector(value)
                if selector is not None:
                    _report(context, path, (Reference("k8s-secret", selector),), self.name)
                    return True
            if not self.whole_objects:
                return False
            return self._mask(context, path, holder, variable) if value else True
        if isinstance(value, list | tuple):
            if not self.whole_objects:
                return False
            return self._mask(context, path, holder, variable) if value else True
        # Not JSON data: masking is the safe guess.
        return self._mask(context, path, holder, variable)

    def _mask(self, context: MaskContext, path: Path, holder: NameClass, variable: object) -> bool:
        if not context.is_masked(path):
            context.mask(path, rule=self.name, restore=env_restore(holder, variable))
        return True


class KnownFieldRule(NameRule):
    """Known secret fields of CI/CD requests, masked whole whatever their value.

    Devtron's blob-storage and docker-registry fields, git credentials, cloud
    provider credentials, kubeconfig keys (see ``vocabulary.KNOWN_FIELDS``), and
    the entries of a Kubernetes ``kind: Secret`` object's ``data``/``stringData``.
    """

    name = "known-field"
    whole_objects = True

    def names_secret(self, name: NameClass) -> bool:
        return name.known

    def claims_pair(self, label: NameClass) -> bool:
        # A field known only under some parents (kubeconfig's user.token) is not
        # known as a pair's name; the keyword rule still sees it.
        return label.known and label.known_parents is None

    def applies(self, name: NameClass, holder: NameClass) -> bool:
        parents = name.known_parents
        return name.known and (parents is None or holder.name in parents)

    def wants(self, name: NameClass) -> bool:
        return name.known or name.secret_payload

    def check(
        self,
        context: MaskContext,
        path: Path,
        key: Key,
        value: Any,
        container: Container,
        name: NameClass,
        holder: NameClass,
    ) -> bool:
        if name.secret_payload:
            if (
                isinstance(value, dict)
                and isinstance(container, dict)
                and container.get("kind") == "Secret"
            ):
                return self._mask_payload(context, (*path, key), value)
            if not name.known:
                return False
        return super().check(context, path, key, value, container, name, holder)

    def _mask_payload(self, context: MaskContext, path: Path, payload: dict[str, Any]) -> bool:
        # Every entry of a Secret is secret whatever its key; keys stay readable.
        for entry, item in payload.items():
            if item is None or item is True or item is False or item == "":
                continue
            if not context.is_masked((*path, entry)):
                context.mask((*path, entry), rule=self.name)
        return True


class KeywordRule(NameRule):
    """Values whose key name holds a secret keyword (``dbPassword``, ``API_TOKEN``).

    Strings and numbers are masked; objects and lists are descended into (their
    own keys decide), except Kubernetes secret selectors, which are references.
    """

    name = "keyword"

    def names_secret(self, name: NameClass) -> bool:
        return name.keyword

    def claim(
        self,
        context: MaskContext,
        path: Path,
        value: Any,
        name: NameClass,
        holder: NameClass,
        variable: object,
    ) -> bool:
        # GitHub's reusable workflows pass all secrets on with `secrets: inherit`.
        if value == "inherit" and variable == "secrets":
            return True
        return super().claim(context, path, value, name, holder, variable)


class ReferenceRule(Rule):
    """References to secrets: names that hold one (``secretName``, ``tokenEnv``),
    Kubernetes selectors (``secretKeyRef``, ``secretRef``), and GitHub secret
    expressions (``${{ secrets.X }}``) anywhere in a string. Nothing is masked."""

    name = "reference"
    scans_strings = True
    string_needle = "${{"
    # What find_secret_expressions needs besides "${{" (most expressions name no secret).
    string_words = ("secrets", "github.token")

    def wants(self, name: NameClass) -> bool:
        return name.reference_kind is not None

    def check(
        self,
        context: MaskContext,
        path: Path,
        key: Key,
        value: Any,
        container: Container,
        name: NameClass,
        holder: NameClass,
    ) -> bool:
        kind = name.reference_kind
        if kind is None:
            return False
        if isinstance(value, str):
            target = value.strip()
            if target:
                refs = parse_reference(target) or (Reference(kind, target),)
                _report(context, (*path, key), refs, self.name)
            return True
        if isinstance(value, dict) and kind == "k8s-secret":
            selector = k8s_selector(value)
            if selector is not None:
                _report(context, (*path, key), (Reference(kind, selector),), self.name)
                return True
        return False

    def check_string(
        self, context: MaskContext, path: Path, key: Key | None, value: str, holder: NameClass
    ) -> None:
        refs = find_secret_expressions(value)
        if refs:
            _report(context, child(path, key), refs, self.name)


class PairRule(Rule):
    """``{name: DB_PASSWORD, value: ...}``: the sibling ``name`` says what ``value`` is.

    Kubernetes env lists, Devtron step variables, Argo and Tekton parameters. The
    label is classified once and handed to the first enabled name rule that takes
    it for a secret, whose name the mark carries; a ``value`` in an ``env`` list is
    restored from the variable ``name``. Not a rule of its own: it is on while a
    name rule is.
    """

    name = "pair"

    def __init__(self, names: NameClassifier, name_rules: tuple[NameRule, ...]) -> None:
        super().__init__(names)
        self.name_rules = name_rules

    def wants(self, name: NameClass) -> bool:
        return name.value_slot

    def check(
        self,
        context: MaskContext,
        path: Path,
        key: Key,
        value: Any,
        container: Container,
        name: NameClass,
        holder: NameClass,
    ) -> bool:
        if not isinstance(key, str) or not isinstance(container, dict):
            return False  # a list item inheriting the name "value"
        label = None
        for slot in _LABEL_SLOTS:  # Kubernetes, Tekton: name/key; CloudFormation, ECS: Name
            label = container.get(slot)
            if isinstance(label, str):
                break
        if not isinstance(label, str) or not label:
            return False
        label_class = self.names.classify(label)
        if not label_class.secret:
            return False
        for rule in self.name_rules:
            if rule.claims_pair(label_class):
                # `holder` is the key of the list holding the pair: an "env" list
                # restores the value from the variable `label`.
                return rule.claim(context, (*path, key), value, label_class, holder, label)
        return False


_LABEL_SLOTS = ("name", "key", "Name", "Key", "NAME", "KEY")


def _report(
    context: MaskContext,
    path: Path,
    refs: tuple[Reference, ...] | list[Reference],
    rule: str,
) -> None:
    for ref in dict.fromkeys(refs):  # once per reference, in order
        context.reference(path, kind=ref.kind, name=ref.name, rule=rule)


RULES: tuple[type[Rule], ...] = (KnownFieldRule, ReferenceRule, KeywordRule)
"""The rules, in the order they see an entry: the most specific first."""

RULE_NAMES: tuple[str, ...] = tuple(rule.name for rule in RULES)
"""The names ``disable`` accepts."""
