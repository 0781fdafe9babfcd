"""The conformance kits for maskers, restorers and adapters.

Each kit is a test class: subclass it in your own test suite and override its
fixtures. The plugin under test is registered in code on an auditor whose only
entry point is the embedded SQLite store, so nothing else masks, restores or
adapts behind its back.
"""

from __future__ import annotations

import base64
import copy
import json
import pathlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import pytest

from wfaudit import Auditor, hookimpl
from wfaudit.masking import PLACEHOLDER_PREFIX
from wfaudit_hookspecs import (
    MaskContext,
    RestoreRef,
    SecretsMismatch,
    SecretsUnavailable,
    TriggerRequest,
    canonical_json,
    check_json,
)
from wfaudit_hookspecs.pointer import iter_nodes, to_pointer

from .assertions import assert_no_secret, assert_restored
from .scan import Secrets

__all__ = [
    "DEFAULT_PLANTED",
    "NON_SECRETS",
    "AdapterCase",
    "AdapterConformance",
    "MaskerConformance",
    "Planted",
    "RestorerConformance",
    "kit_auditor",
    "url_encode",
]


@pytest.fixture
def kit_auditor(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Auditor]]:
    """Build strict auditors on a fresh SQLite file with only the plugins given."""
    monkeypatch.setenv("WFAUDIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql")
    opened: list[Auditor] = []

    def make(*plugins: object, **kwargs: Any) -> Auditor:
        url = f"sqlite:///{tmp_path / 'kit.sqlite3'}"
        auditor = Auditor.from_url(url, plugins=plugins, strict=True, **kwargs)
        opened.append(auditor)
        return auditor

    yield make
    for auditor in opened:
        auditor.close()


def _database(tmp_path: pathlib.Path) -> tuple[str, list[pathlib.Path]]:
    return f"sqlite:///{tmp_path / 'kit.sqlite3'}", sorted(tmp_path.glob("kit.sqlite3*"))


# -- maskers -------------------------------------------------------------------------


@attrs.frozen
class Planted:
    """A config with secrets planted in it, and the secrets.

    :ivar config: a request's config (JSON data) carrying the secrets, where your
        masker must find them.
    :ivar secrets: each planted secret, exactly as it appears in ``config``; the
        kit also plants them base64- and URL-encoded, and looks for every form in
        the store afterwards.
    :ivar label: names the case in a failure (default: ``case N``).
    """

    config: Mapping[str, Any] = attrs.field(repr=False)
    secrets: tuple[str, ...] = attrs.field(repr=False)
    label: str = ""

    def labelled(self, number: int) -> dict[str, str]:
        """The secrets by label (``<label or case N>, secret M``), for a leak report."""
        name = self.label or f"case {number}"
        return {f"{name}, secret {i}": s for i, s in enumerate(self.secrets, 1)}


def _labelled(planted: Sequence[Planted]) -> Secrets:
    found = Secrets()
    for number, case in enumerate(planted, 1):
        found.update(case.labelled(number))
    return found


def _encode_leaves(config: Any, secrets: Sequence[str], encode: Callable[[str], str]) -> Any:
    """The config with each secret, wherever it occurs in a string, encoded."""
    out = copy.deepcopy(config)
    for path, value in list(iter_nodes(out)):
        if path and isinstance(value, str) and any(secret in value for secret in secrets):
            text = value
            for secret in secrets:
                text = text.replace(secret, encode(secret))
            parent = out
            for token in path[:-1]:
                parent = parent[token]
            parent[path[-1]] = text
    return out


def url_encode(secret: str) -> str:
    """``secret`` URL-encoded as the kit plants it: every character but ASCII
    letters and digits as ``%XX`` (UTF-8).

    ``-``, ``.``, ``_`` and ``~`` are encoded too (RFC 3986 lets an encoder do so,
    and a decoder must read them back): with ``urllib.parse.quote``'s choice a
    token such as ``acme_0f3a...`` would be planted unchanged, and a masker that
    never decodes URLs would pass. A secret of letters and digits only cannot
    change; the URL-encoded case skips when every planted secret is such.
    """
    return "".join(
        char if char.isascii() and char.isalnum() else "".join(f"%{b:02X}" for b in char.encode())
        for char in secret
    )


NON_SECRETS: Mapping[str, Any] = {
    "commitHash": "3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f",
    "commitSha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "image": "ghcr.io/acme/app@sha256:"
    "4c2b9d0e6f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c",
    "runId": "6f1c2b7e-3d4a-4f5b-9c8d-1e2f3a4b5c6d",
    "cacheKey": "cargo-Linux-8d1e5f0a2b3c4d5e6f708192a3b4c5d6",
    "checksum": "md5:5d41402abc4b2a76b9719d911017c592",
    "npmToken": "${{ secrets.NPM_TOKEN }}",
    "env": [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "LOG_LEVEL", "value": "debug"},
    ],
    "repository": "https://github.com/acme/payments-api.git",
    "docs": "https://example.org/docs?page=2&lang=en",
    "secretName": "registry-credentials",
    "tokenExpirySeconds": 3600,
    "passwordless": True,
    "script": "make test && ./deploy.sh --env production",
}
"""Values no masker may mask: a retrigger needs them, and none is a secret."""

DEFAULT_PLANTED = (
    Planted(
        config={
            "dockerPassword": "Kit-Docker-Pa55word-0001",
            "env": {"DB_PASSWORD": "kit-db-pa55word-0002", "LOG_LEVEL": "info"},
            "steps": [
                {"name": "push", "script": "docker push app", "apiToken": "kit-api-t0ken-0003"}
            ],
        },
        secrets=("Kit-Docker-Pa55word-0001", "kit-db-pa55word-0002", "kit-api-t0ken-0003"),
        label="secret-named fields",
    ),
)


class MaskerConformance:
    """The masker contract: planted secrets are masked in every form, nothing
    else is, and the config is only marked, never changed.

    Override ``masker`` (the plugin object) and, for a masker of particular
    formats, ``planted`` (configs carrying secrets it must find).
    """

    @pytest.fixture
    def masker(self) -> object:
        """The masker plugin under test. Override this fixture."""
        pytest.fail("override the `masker` fixture to return your masker plugin")

    @pytest.fixture
    def planted(self) -> Sequence[Planted]:
        """Configs with planted secrets; the default plants secret-named fields."""
        return DEFAULT_PLANTED

    def _audit(self, auditor: Auditor, config: Mapping[str, Any], workflow_id: str) -> None:
        auditor.audit_trigger(
            TriggerRequest(
                workflow_id=workflow_id, workflow_type="CI", pipeline_id="kit", config=dict(config)
            )
        )

    def test_masker_masks_planted_secrets(
        self,
        masker: object,
        planted: Sequence[Planted],
        kit_auditor: Callable[..., Auditor],
        tmp_path: pathlib.Path,
    ) -> None:
        auditor = kit_auditor(masker)
        for index, case in enumerate(planted):
            self._audit(auditor, case.config, f"plain-{index}")
        url, files = _database(tmp_path)
        assert_no_secret(_labelled(planted), auditor=auditor, database_url=url, paths=files)

    @pytest.mark.parametrize("encoding", ["base64", "url-encoded"])
    def test_masker_finds_encoded_secrets(
        self,
        masker: object,
        planted: Sequence[Planted],
        kit_auditor: Callable[..., Auditor],
        tmp_path: pathlib.Path,
        encoding: str,
    ) -> None:
        encode: Callable[[str], str] = (
            (lambda s: base64.b64encode(s.encode()).decode())
            if encoding == "base64"
            else url_encode
        )
        # No list of secrets as a local here: `pytest -l` shows a failing test's locals.
        if encoding == "url-encoded" and not any(
            url_encode(s) != s for case in planted for s in case.secrets
        ):
            pytest.skip(
                "no planted secret changes when URL-encoded (letters and digits only): "
                "plant one with another character to test URL decoding"
            )
        auditor = kit_auditor(masker)
        secrets = self._audit_encoded(auditor, planted, encode, encoding)
        url, files = _database(tmp_path)
        assert_no_secret(secrets, auditor=auditor, database_url=url, paths=files)

    def _audit_encoded(
        self,
        auditor: Auditor,
        planted: Sequence[Planted],
        encode: Callable[[str], str],
        encoding: str,
    ) -> Secrets:
        # Its own frame: the encoded configs never become a test's locals. The
        # secrets' encoded forms are among those assert_no_secret looks for, and
        # the exact form planted is looked for as a secret of its own.
        found = _labelled(planted)
        for index, case in enumerate(planted):
            encoded = _encode_leaves(case.config, case.secrets, encode)
            self._audit(auditor, encoded, f"{encoding}-{index}")
            for label, secret in case.labelled(index + 1).items():
                if encode(secret) != secret:
                    found[f"{label} ({encoding})"] = encode(secret)
        return found

    def test_masker_keeps_what_is_not_secret(
        self, masker: object, kit_auditor: Callable[..., Auditor]
    ) -> None:
        auditor = kit_auditor(masker)
        self._audit(auditor, NON_SECRETS, "non-secrets")
        snapshot = auditor.get_snapshot("non-secrets", "CI")
        over = [field.path for field in snapshot.manifest.fields]
        assert not over, f"the masker masked values that are not secrets: {', '.join(over)}"
        assert snapshot.config == check_json(NON_SECRETS)

    def test_masker_only_marks(
        self, masker: object, planted: Sequence[Planted], kit_auditor: Callable[..., Auditor]
    ) -> None:
        auditor = kit_auditor(masker)
        for index, case in enumerate(planted):
            original = copy.deepcopy(dict(case.config))
            request = TriggerRequest(
                workflow_id=f"only-{index}", workflow_type="CI", pipeline_id="kit", config=original
            )
            auditor.audit_trigger(request)
            assert canonical_json(original) == canonical_json(case.config), (
                "the masker changed the caller's config"
            )
            snapshot = auditor.get_snapshot(f"only-{index}", "CI")
            masked = {field.path for field in snapshot.manifest.fields}
            for path, value in iter_nodes(snapshot.config):
                pointer = to_pointer(path)
                if isinstance(value, str) and PLACEHOLDER_PREFIX in value:
                    assert any(pointer == m or pointer.startswith(m + "/") for m in masked), (
                        f"{pointer} holds a placeholder the manifest does not list"
                    )


# -- restorers -----------------------------------------------------------------------


class _KitMasker:
    """Masks ``password`` and ``token`` keys, with the restore references the
    restorer kit asks for."""

    def __init__(self, restore_for: Callable[[str], RestoreRef | None]) -> None:
        self.restore_for = restore_for

    @hookimpl
    def wfaudit_mask(self, context: MaskContext) -> None:
        for path, value in iter_nodes(context.config):
            if path and path[-1] in ("password", "token") and isinstance(value, str):
                context.mask(path, rule="kit", restore=self.restore_for(to_pointer(path)))


_RESTORE_CONFIG = {
    "registry": {"host": "registry.example.org", "password": "kit-registry-pa55-0001"},
    "steps": [{"name": "deploy", "token": "kit-deploy-t0ken-0002"}],
}


class RestorerConformance:
    """The restorer contract: every secret it holds comes back exactly; a
    secret it lacks is reported missing, never guessed or left as a placeholder.

    Override ``restorer`` (the plugin object) and ``provide`` (a function that
    makes a secret available to the restorer, e.g. in a test keyring or the
    environment). Override :meth:`restore_for` to attach restore references.
    """

    @pytest.fixture
    def restorer(self) -> object:
        """The restorer plugin under test. Override this fixture."""
        pytest.fail("override the `restorer` fixture to return your restorer plugin")

    @pytest.fixture
    def provide(self) -> Callable[[str, str, RestoreRef | None], None]:
        """``provide(pointer, secret, restore_ref)`` stores a secret where the
        restorer finds it. Override this fixture."""
        pytest.fail("override the `provide` fixture")

    def restore_for(self, pointer: str) -> RestoreRef | None:
        """The restore reference the masker records for a path (default: none)."""
        return None

    def _audited(
        self, kit_auditor: Callable[..., Auditor], restorer: object
    ) -> tuple[Auditor, TriggerRequest]:
        auditor = kit_auditor(_KitMasker(self.restore_for), restorer)
        request = TriggerRequest(
            workflow_id="restore-1",
            workflow_type="CI",
            pipeline_id="kit",
            config=copy.deepcopy(_RESTORE_CONFIG),
        )
        auditor.audit_trigger(request)
        return auditor, request

    def test_restorer_round_trip(
        self,
        restorer: object,
        provide: Callable[[str, str, RestoreRef | None], None],
        kit_auditor: Callable[..., Auditor],
    ) -> None:
        provide(
            "/registry/password", "kit-registry-pa55-0001", self.restore_for("/registry/password")
        )
        provide("/steps/0/token", "kit-deploy-t0ken-0002", self.restore_for("/steps/0/token"))
        auditor, original = self._audited(kit_auditor, restorer)
        try:
            restored = auditor.retrigger_request("restore-1", "CI")
        except SecretsMismatch as error:  # the engine checks every answer's fingerprint
            if error.invalid:
                pytest.fail(
                    "the restorer returned a placeholder instead of the secret (or an empty "
                    f"value, or a whole string for a span) at {', '.join(error.invalid)}"
                )
            pytest.fail(f"the restorer returned other values than the secrets at {error.paths}")
        text = json.dumps(restored.config)
        assert PLACEHOLDER_PREFIX not in text, (
            "the restorer returned a placeholder instead of the secret"
        )
        assert_restored(original, restored)

    def test_restorer_reports_what_it_lacks(
        self,
        restorer: object,
        provide: Callable[[str, str, RestoreRef | None], None],
        kit_auditor: Callable[..., Auditor],
    ) -> None:
        provide(
            "/registry/password", "kit-registry-pa55-0001", self.restore_for("/registry/password")
        )
        auditor, _ = self._audited(kit_auditor, restorer)
        with pytest.raises(SecretsUnavailable) as info:
            auditor.retrigger_request("restore-1", "CI")
        assert info.value.paths == ("/steps/0/token",), (
            f"missing paths reported: {info.value.paths}"
        )
        assert "kit-registry-pa55-0001" not in str(info.value)


# -- adapters ------------------------------------------------------------------------


@attrs.frozen
class AdapterCase:
    """A payload an adapter must claim, and what it must make of it.

    :ivar workflow_type: the type the orchestrator triggers it as (``CI``, or a
        type the adapter declares).
    :ivar config: the payload, as JSON data, exactly as the orchestrator sends it.
    :ivar format: the format the adapter must set on the request it returns.
    :ivar label: names the case in a failure (default: its format).
    """

    workflow_type: str
    config: Any
    format: str
    references: frozenset[str] = frozenset()
    """JSON pointers (strings, ``/a/0/b``) of the secret references the adapter must list."""
    label: str = ""


class AdapterConformance:
    """The adapter contract: it claims its payloads (format set, identity
    filled, references listed, config untouched), declines others, and
    declares its formats and types.

    Override ``adapter`` (the plugin object) and ``cases`` (its payloads).
    """

    @pytest.fixture
    def adapter(self) -> object:
        """The adapter plugin under test. Override this fixture."""
        pytest.fail("override the `adapter` fixture to return your adapter plugin")

    @pytest.fixture
    def cases(self) -> Sequence[AdapterCase]:
        """Payloads the adapter must claim. Override this fixture."""
        pytest.fail("override the `cases` fixture")

    @pytest.fixture
    def foreign_payloads(self) -> Sequence[Any]:
        """Payloads the adapter must decline."""
        return [{"hello": "world"}, {"steps": [{"run": "make"}]}]

    def _answers(self, auditor: Auditor, request: TriggerRequest) -> list[TriggerRequest]:
        return auditor.hooks.pre_trigger(request)

    def test_adapter_declares_its_formats(
        self, adapter: object, cases: Sequence[AdapterCase], kit_auditor: Callable[..., Auditor]
    ) -> None:
        auditor = kit_auditor(adapter, allow_unmasked=True)
        formats = auditor.plugin_manager.payload_formats
        for case in cases:
            assert case.format in formats, (
                f"format {case.format!r} is not declared (wfaudit_payload_formats)"
            )
            assert case.workflow_type in auditor.workflow_types

    def test_adapter_claims_its_payloads(
        self, adapter: object, cases: Sequence[AdapterCase], kit_auditor: Callable[..., Auditor]
    ) -> None:
        auditor = kit_auditor(adapter, allow_unmasked=True)
        for index, case in enumerate(cases):
            config = copy.deepcopy(case.config)
            request = TriggerRequest(
                workflow_id=f"a{index}",
                workflow_type=case.workflow_type,
                pipeline_id="p",
                config=config,
            )
            answers = self._answers(auditor, request)
            name = case.label or case.format
            assert len(answers) == 1, (
                f"{name}: the adapter answered {len(answers)} times, wanted once"
            )
            (answer,) = answers
            assert answer.format == case.format, (
                f"{name}: format {answer.format!r}, wanted {case.format!r}"
            )
            assert answer.workflow_id and answer.pipeline_id, f"{name}: identity not filled"
            assert canonical_json(config) == canonical_json(case.config), (
                f"{name}: the adapter changed the payload"
            )
            found = {ref.path for ref in answer.references}
            assert case.references <= found, (
                f"{name}: references not listed: {sorted(case.references - found)}"
            )
            result = auditor.audit_trigger(answer)
            assert result.ok
            assert (
                auditor.get_snapshot(f"a{index}", case.workflow_type).manifest.adapter
                == case.format
            )

    def test_adapter_declines_foreign_payloads(
        self, adapter: object, foreign_payloads: Sequence[Any], kit_auditor: Callable[..., Auditor]
    ) -> None:
        auditor = kit_auditor(adapter, allow_unmasked=True)
        for config in foreign_payloads:
            for workflow_type in ("CI", "PRE_CD", "POST_CD"):
                request = TriggerRequest(
                    workflow_id="x", workflow_type=workflow_type, pipeline_id="p", config=config
                )
                assert not self._answers(auditor, request), (
                    f"the adapter claimed a foreign {workflow_type} payload"
                )
