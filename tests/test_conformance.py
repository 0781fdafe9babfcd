"""The conformance kits: the project's own plugins pass them, broken ones fail
them with a clear message."""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

import wfaudit_maskers.plugin
from wfaudit.archive import FileArchive
from wfaudit.testing import (
    DEFAULT_PLANTED,
    AdapterCase,
    AdapterConformance,
    ArchiveStoreConformance,
    KeyedTrailConformance,
    MaskerConformance,
    Planted,
    RestorerConformance,
    StoreConformance,
    StoreHistoryConformance,
    StoreMaintenanceConformance,
    StoreRetentionConformance,
    StoreSchemaConformance,
)
from wfaudit_hookspecs import RestoreRef, Store
from wfaudit_sql import SqlStore


class _SqlStore:
    """A fresh SqlStore on each backend of ``store_url`` (SQLite, PostgreSQL)."""

    @pytest.fixture
    def store(self, store_url: str) -> Iterator[Store]:
        store = SqlStore(store_url)
        yield store
        store.close()


class TestSqlStoreConformance(_SqlStore, StoreConformance):
    """Store and StoreMeta."""


class TestSqlStoreHistoryConformance(_SqlStore, StoreHistoryConformance):
    """StoreHistory."""


class TestSqlStoreMaintenanceConformance(_SqlStore, StoreMaintenanceConformance):
    """StoreMaintenance."""


class TestSqlStoreSchemaConformance(_SqlStore, StoreSchemaConformance):
    """StoreSchema."""


class TestSqlKeyedTrailConformance(_SqlStore, KeyedTrailConformance):
    """KeyedTrail."""


class TestSqlStoreRetentionConformance(_SqlStore, StoreRetentionConformance):
    """StoreRetention."""


class TestFileArchiveConformance(ArchiveStoreConformance):
    @pytest.fixture
    def archive(self, tmp_path: pathlib.Path) -> FileArchive:
        return FileArchive(tmp_path / "archive", fsync=False)


class TestMaskersConformance(MaskerConformance):
    @pytest.fixture
    def masker(self) -> object:
        return wfaudit_maskers.plugin

    @pytest.fixture
    def planted(self) -> Sequence[Planted]:
        github = "ghp_" + "K7qP2mZx9LwR4tYv8NcB3dFh6JsG1aUe0Xi5"
        aws = "AKIA" + "Q3XW7ZPL2MVN8RTY"
        jwt = (
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
            "eyJzdWIiOiJjaS1ib3QiLCJpYXQiOjE3MDAwMDAwMDB9."
            "qQ3lX8mB2nR7vT1kY5wZ9pF4hJ6cD0sA8gE2uI3oL7M"
        )
        db = "Xy7-pq2-DB-pa55"
        return [
            *DEFAULT_PLANTED,
            Planted(
                config={"steps": [{"run": f"git clone https://x:{github}@github.com/acme/app"}]},
                secrets=(github,),
            ),
            Planted(config={"cloud": {"id": aws, "region": "eu-west-1"}}, secrets=(aws,)),
            Planted(config={"headers": {"Authorization": f"Bearer {jwt}"}}, secrets=(jwt,)),
            Planted(
                config={"DATABASE_URL": f"postgres://app:{db}@db.internal:5432/app"}, secrets=(db,)
            ),
        ]


class EnvRestorer:
    """A restorer reading ``RestoreRef(kind="env")`` from the environment."""

    from wfaudit import hookimpl

    @hookimpl
    def wfaudit_restore_secrets(self, snapshot: Any, requests: Sequence[Any]) -> dict[str, str]:
        return {
            r.key: os.environ[r.restore.target]
            for r in requests
            if r.restore and r.restore.kind == "env" and r.restore.target in os.environ
        }


class TestEnvRestorerConformance(RestorerConformance):
    @pytest.fixture
    def restorer(self) -> object:
        return EnvRestorer()

    def restore_for(self, pointer: str) -> RestoreRef | None:
        return RestoreRef(kind="env", target="KIT_" + re.sub(r"\W", "_", pointer).upper())

    @pytest.fixture
    def provide(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> Callable[[str, str, RestoreRef | None], None]:
        def provide(pointer: str, secret: str, restore: RestoreRef | None) -> None:
            assert restore is not None
            monkeypatch.setenv(restore.target, secret)

        return provide


class NightlyAdapter:
    from wfaudit import hookimpl

    @hookimpl
    def wfaudit_workflow_types(self, register: Callable[[str, str], None]) -> None:
        register("NIGHTLY", "nightly batch")

    @hookimpl
    def wfaudit_payload_formats(self, register: Callable[[str, Sequence[str], str], None]) -> None:
        register("nightly-json", ["NIGHTLY"], "nightly JSON")

    @hookimpl
    def wfaudit_pre_trigger(self, request: Any) -> Any:
        import attrs

        from wfaudit_hookspecs import SecretReference

        if request.workflow_type != "NIGHTLY" or "nightly" not in request.config:
            return None
        refs = [SecretReference(path="/nightly/credentials", kind="k8s-secret", name="nightly")]
        return attrs.evolve(request, format="nightly-json", references=refs)


class TestNightlyAdapterConformance(AdapterConformance):
    @pytest.fixture
    def adapter(self) -> object:
        return NightlyAdapter()

    @pytest.fixture
    def cases(self) -> Sequence[AdapterCase]:
        config = {"nightly": {"credentials": {"secretName": "nightly"}, "steps": ["a"]}}
        return [AdapterCase("NIGHTLY", config, "nightly-json", frozenset({"/nightly/credentials"}))]


# -- broken implementations fail their kits ------------------------------------------------

BROKEN = {
    "store": (
        '''
import pytest
from wfaudit_sql import SqlStore
from wfaudit.testing import StoreConformance

class LossyStore(SqlStore):
    """Drops every tenth save, reporting success."""
    saves = 0
    def save(self, record, blob):
        type(self).saves += 1
        if self.saves % 10 == 0:
            from wfaudit_hookspecs import SaveResult
            return SaveResult(ref=record.ref, created=True)
        return super().save(record, blob)

class TestLossy(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path):
        store = LossyStore(f"sqlite:///{tmp_path}/lossy.sqlite3")
        yield store
        store.close()
''',
        "test_store_keeps_every_write",
        "*missing from the history*",
    ),
    "store-trail": (
        '''
import pytest
from wfaudit_sql import SqlStore
from wfaudit_hookspecs import AuditEvent, utcnow
from wfaudit.testing import StoreConformance

class ForgetfulTrail(SqlStore):
    """Acknowledges every appended event but writes only every other one."""
    appended = 0
    def append_event(self, *, subject, kind, tenant, actor=None, data=None):
        type(self).appended += 1
        if self.appended % 2 == 0:
            return AuditEvent(subject=subject, seq=1, kind=kind, at=utcnow(), tenant=tenant)
        return super().append_event(
            subject=subject, kind=kind, tenant=tenant, actor=actor, data=data
        )

class TestForgetful(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path):
        store = ForgetfulTrail(f"sqlite:///{tmp_path}/forgetful.sqlite3")
        yield store
        store.close()
''',
        "test_store_appends_chained_events",
        "*the chain holds * events, 7 were recorded*",
    ),
    "masker": (
        '''
import re
import pytest
from wfaudit import hookimpl
from wfaudit_hookspecs.pointer import iter_nodes
from wfaudit.testing import MaskerConformance, Planted

TOKEN = re.compile(r"acme_[0-9a-f]{32}")

class PlainOnly:
    """Finds ACME tokens, but not when they are base64 or URL encoded."""
    @hookimpl
    def wfaudit_mask(self, context):
        for path, value in iter_nodes(context.config):
            if isinstance(value, str):
                for match in TOKEN.finditer(value):
                    context.mask(path, rule="acme", span=match.span())

class TestPlainOnly(MaskerConformance):
    @pytest.fixture
    def masker(self):
        return PlainOnly()
    @pytest.fixture
    def planted(self):
        token = "acme_" + "0123456789abcdef" * 2
        return [Planted(config={"note": f"use {token} to deploy"}, secrets=(token,))]
''',
        "test_masker_finds_encoded_secrets and base64",
        "*secret leak*",
    ),
    "masker-url": (
        '''
import base64, binascii, re
import pytest
from wfaudit import hookimpl
from wfaudit_hookspecs.pointer import iter_nodes
from wfaudit.testing import MaskerConformance, Planted

TOKEN = re.compile(r"acme_[0-9a-f]{32}")
RUN = re.compile(r"[A-Za-z0-9+/=]{40,}")

class NoUrlDecoding:
    """Finds ACME tokens plain and base64-encoded, never URL-decodes."""
    @hookimpl
    def wfaudit_mask(self, context):
        for path, value in iter_nodes(context.config):
            if not isinstance(value, str):
                continue
            for match in TOKEN.finditer(value):
                context.mask(path, rule="acme", span=match.span())
            for run in RUN.finditer(value):
                try:
                    decoded = base64.b64decode(run.group()).decode("latin-1")
                except (binascii.Error, ValueError):
                    continue
                if TOKEN.search(decoded):
                    context.mask(path, rule="acme.base64", span=run.span())

class TestNoUrlDecoding(MaskerConformance):
    @pytest.fixture
    def masker(self):
        return NoUrlDecoding()
    @pytest.fixture
    def planted(self):
        # Letters, digits and "_" only: urllib's quote() leaves it as it is.
        token = "acme_" + "0123456789abcdef" * 2
        return [Planted(config={"note": f"use {token} to deploy"}, secrets=(token,))]
''',
        "test_masker_finds_encoded_secrets and url",
        "*secret 1 (url-encoded) in snapshot *",
    ),
    "restorer": (
        '''
import pytest
from wfaudit import hookimpl
from wfaudit.testing import RestorerConformance

class Placeholder:
    """Answers every request with the placeholder it was given."""
    @hookimpl
    def wfaudit_restore_secrets(self, snapshot, requests):
        from wfaudit.masking import placeholder
        return {r.key: placeholder(r.fingerprint) for r in requests}

class TestPlaceholder(RestorerConformance):
    @pytest.fixture
    def restorer(self):
        return Placeholder()
    @pytest.fixture
    def provide(self):
        return lambda pointer, secret, restore: None
''',
        "test_restorer_round_trip",
        "*the restorer returned a placeholder instead of the secret*",
    ),
    "adapter": (
        '''
import attrs
import pytest
from wfaudit import hookimpl
from wfaudit.testing import AdapterConformance, AdapterCase

class Meddler:
    """Recognises its payloads, but edits the caller's config in place."""
    @hookimpl
    def wfaudit_payload_formats(self, register):
        register("meddle", ["CI"], "")
    @hookimpl
    def wfaudit_pre_trigger(self, request):
        if "meddle" not in request.config:
            return None
        request.config["meddled"] = True
        return attrs.evolve(request, format="meddle")

class TestMeddler(AdapterConformance):
    @pytest.fixture
    def adapter(self):
        return Meddler()
    @pytest.fixture
    def cases(self):
        return [AdapterCase("CI", {"meddle": 1}, "meddle")]
''',
        "test_adapter_claims_its_payloads",
        "*the adapter changed the payload*",
    ),
    "store-retention-holds": (
        '''
import pytest
from wfaudit.testing import MemoryStore, StoreRetentionConformance

class HoldBlind(MemoryStore):
    """Records legal holds, but its retention primitive finds none in force."""
    def retention_work(self, work):
        def blind(unit):
            unit.active_holds = lambda tenant: []
            return work(unit)
        return super().retention_work(blind)

class TestHoldBlind(StoreRetentionConformance):
    @pytest.fixture
    def store(self):
        return HoldBlind()
''',
        "test_retention_never_deletes_what_a_hold_protects",
        "*a held snapshot (1) was deleted*",
    ),
    "store-history-tags": (
        '''
import pytest
from wfaudit.testing import MemoryStore, StoreHistoryConformance

class AlwaysMoves(MemoryStore):
    """Moves a tag to another snapshot of the pipeline even when not asked to."""
    def add_tag(self, *, snapshot_id, name, tenant, by=None, move=False):
        return super().add_tag(snapshot_id=snapshot_id, name=name, tenant=tenant, by=by, move=True)

class TestAlwaysMoves(StoreHistoryConformance):
    @pytest.fixture
    def store(self):
        return AlwaysMoves()
''',
        "test_history_tags_are_unique_per_pipeline_and_move_only_when_asked",
        "*DID NOT RAISE*TagConflict*",
    ),
    "archive-prefix": (
        '''
import pytest
from wfaudit.testing import ArchiveStoreConformance, MemoryArchive

class PrefixBlind(MemoryArchive):
    """Lists every key, whatever the prefix."""
    def iter_keys(self, prefix=""):
        return super().iter_keys("")

class TestPrefixBlind(ArchiveStoreConformance):
    @pytest.fixture
    def archive(self):
        return PrefixBlind()
''',
        "test_archive_lists_keys_by_prefix",
        "*iter_keys(prefix) must list the keys under that prefix only*",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_plugin_fails_its_kit_clearly(pytester: pytest.Pytester, kind: str) -> None:
    source, failing_test, message = BROKEN[kind]
    pytester.makepyfile(**{f"test_broken_{kind}": source})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", failing_test)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines([message])


# -- the project's other plugins ------------------------------------------------------------


import wfaudit_cd.plugin  # noqa: E402
import wfaudit_ci.plugin  # noqa: E402
import wfaudit_keyring.plugin  # noqa: E402
from wfaudit.loading import load_payload  # noqa: E402
from wfaudit.testing import MemoryKeyring  # noqa: E402

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "docs" / "adapters" / "examples"


class TestKeyringRestorerConformance(RestorerConformance):
    """The keyring restorer, following keyring restore references."""

    @pytest.fixture
    def restorer(self) -> object:
        return wfaudit_keyring.plugin

    def restore_for(self, pointer: str) -> RestoreRef | None:
        return RestoreRef(kind="keyring", target="wfaudit-kit/" + re.sub(r"\W", "_", pointer))

    @pytest.fixture
    def provide(
        self, wfaudit_keyring: MemoryKeyring
    ) -> Callable[[str, str, RestoreRef | None], None]:
        def provide(pointer: str, secret: str, restore: RestoreRef | None) -> None:
            assert restore is not None
            service, username = restore.target.split("/", 1)
            wfaudit_keyring.set_password(service, username, secret)

        return provide


class TestEnvRestorerOfTheKeyringPlugin(TestEnvRestorerConformance):
    """The same plugin, following environment restore references."""

    @pytest.fixture
    def restorer(self) -> object:
        return wfaudit_keyring.plugin


class TestCiAdapterConformance(AdapterConformance):
    @pytest.fixture
    def adapter(self) -> object:
        return wfaudit_ci.plugin

    @pytest.fixture
    def cases(self) -> Sequence[AdapterCase]:
        return [
            AdapterCase(
                "CI", load_payload(str(EXAMPLES / "devtron-ci.json")), "devtron", label="devtron CI"
            ),
            AdapterCase(
                "CI", load_payload(str(EXAMPLES / "github-actions-run.json")), "github-actions"
            ),
            AdapterCase("CI", load_payload(str(EXAMPLES / "tekton-pipelinerun.yaml")), "tekton"),
        ]


class TestCdAdapterConformance(AdapterConformance):
    @pytest.fixture
    def adapter(self) -> object:
        return wfaudit_cd.plugin

    @pytest.fixture
    def cases(self) -> Sequence[AdapterCase]:
        return [
            AdapterCase(
                "PRE_CD",
                load_payload(str(EXAMPLES / "devtron-pre-cd.json")),
                "devtron",
                label="devtron pre-CD",
            ),
            AdapterCase(
                "POST_CD",
                load_payload(str(EXAMPLES / "devtron-post-cd.json")),
                "devtron",
                label="devtron post-CD",
            ),
            AdapterCase("PRE_CD", load_payload(str(EXAMPLES / "argo-workflow.yaml")), "argo"),
        ]
