"""History: the timeline (filters, paging, what changed), tags, annotations and
snapshot references, through the Auditor on real SQLite and PostgreSQL stores."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rich.console import Console

from tests.conftest import KeyNameMasker
from wfaudit import Auditor
from wfaudit.diff import Change, SnapshotDiff, diff_configs, summarize
from wfaudit.history import FIRST, WORDS_CACHE, history_query, parse_labels, parse_time, timeline
from wfaudit.history_render import side_by_side, unified_lines
from wfaudit.refs import NeedsPipeline, parse_reference
from wfaudit.testing import Clock
from wfaudit_hookspecs import (
    AmbiguousReference,
    EventKind,
    InvalidRequest,
    SnapshotRecord,
    SnapshotRef,
    Status,
    Store,
    StoreError,
    StoreHistory,
    TagConflict,
    UnknownReference,
    UnknownWorkflowType,
)

STEPS = ["checkout", "build", "test", "lint", "package"]


def config(version: int) -> dict[str, Any]:
    """A workflow whose versions change in known ways."""
    steps = [{"name": n, "run": f"make {n}"} for n in STEPS]
    data: dict[str, Any] = {"image": "app:1", "env": {"LEVEL": "info"}, "steps": steps}
    if version >= 1:
        data["image"] = "app:2"
    if version >= 2:
        data["steps"][2]["run"] = "make test --fast"
    if version >= 3:
        data["steps"].insert(0, data["steps"].pop(3))  # lint moves first
    if version >= 4:
        data["env"]["LEVEL"] = "debug"
    return data


@pytest.fixture
def clock() -> Iterator[Clock]:
    fixed = Clock(dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC))
    fixed.install()
    try:
        yield fixed
    finally:
        fixed.uninstall()


@pytest.fixture
def auditor(make_auditor: Callable[..., Auditor]) -> Auditor:
    WORDS_CACHE.clear()
    return make_auditor(KeyNameMasker())


def audit(auditor: Auditor, clock: Clock, workflow_id: str, cfg: Any, **fields: Any) -> Any:
    clock.advance(seconds=60)
    fields.setdefault("pipeline_id", "7")
    fields.setdefault("workflow_type", "CI")
    result = auditor.audit_trigger(workflow_id=workflow_id, config=cfg, **fields)
    assert result.ok, result.error
    return auditor.store.get_record_by_id(result.ref.id)


def test_timeline_says_what_changed_since_the_previous_snapshot(
    auditor: Auditor, clock: Clock
) -> None:
    versions = [config(v) for v in range(5)]
    versions.insert(3, copy.deepcopy(versions[2]))  # a run with the same request
    records = [audit(auditor, clock, f"r{i}", cfg) for i, cfg in enumerate(versions)]
    audit(auditor, clock, "other-1", config(0), pipeline_id="8")
    audit(auditor, clock, "cd-1", {"deploy": "x"}, workflow_type="PRE_CD")

    entries = auditor.timeline(pipeline_id="7", workflow_type="CI")
    assert [e.record.id for e in entries] == [r.id for r in reversed(records)]
    # Checked against an independent comparison of the configs that were audited.
    expected = [FIRST] + [
        "no change" if old == new else summarize(diff_configs(old, new)).words()
        for old, new in itertools.pairwise(versions)
    ]
    assert [e.changed for e in reversed(entries)] == expected
    assert expected[1:] == [
        "image",
        "1 step modified",
        "no change",
        "1 step moved",
        "variables",
    ]
    assert [e.previous for e in reversed(entries)] == [None] + [r.id for r in records[:-1]]

    # Without a pipeline filter each entry is compared within its own pipeline and type.
    everything = {e.record.workflow_id: e for e in auditor.timeline()}
    assert everything["cd-1"].changed == FIRST and everything["other-1"].changed == FIRST
    assert everything["r5"].changed == "variables"


def test_timeline_filters_and_paging(auditor: Auditor, clock: Clock) -> None:
    start = clock.now
    records = []
    for i in range(9):
        records.append(
            audit(
                auditor,
                clock,
                f"r{i}",
                config(i % 5),
                labels={"env": "prod" if i % 2 else "dev", "team": "a"},
                triggered_by="ana",
            )
        )
        if i % 3 == 2:
            auditor.record_outcome(f"r{i}", "CI", "failed", "exit 1")
    newest = [r.id for r in reversed(records)]

    # Keyset pages of 4 cover the history once, in order.
    seen: list[str] = []
    before = None
    while True:
        page = auditor.timeline(pipeline_id=7, limit=4, before=before)
        seen += [e.record.id for e in page]
        if len(page) < 4:
            break
        before = page[-1].record.id
    assert seen == newest
    # The cursor may be any reference, e.g. a unique id prefix.
    assert (
        auditor.timeline(pipeline_id=7, limit=2, before=records[4].id[:24])[0].record
        == (records[3])
    )

    failed = auditor.timeline(pipeline_id=7, status="failed")
    assert [e.record.workflow_id for e in failed] == ["r8", "r5", "r2"]
    # "Previous" is the pipeline's previous snapshot, not the previous failure.
    assert [e.previous for e in failed] == [records[7].id, records[4].id, records[1].id]
    assert failed[0].changed == summarize(diff_configs(config(2), config(3))).words()

    prod = auditor.timeline(pipeline_id=7, labels={"env": "prod"})
    assert [e.record.workflow_id for e in prod] == ["r7", "r5", "r3", "r1"]
    assert auditor.timeline(labels=parse_labels(["env=prod", "team=b"])) == []

    since = start + dt.timedelta(minutes=3)
    until = start + dt.timedelta(minutes=6)
    window = auditor.timeline(since=since, until=until)
    assert [e.record.workflow_id for e in window] == ["r4", "r3", "r2"]
    assert auditor.timeline(since="5m", pipeline_id=7)[-1].record.workflow_id == "r4"

    # A bounded page: at most max_diffs comparisons, the rest "not compared".
    WORDS_CACHE.clear()
    query = history_query(auditor, pipeline_id=7, limit=5)
    bounded = timeline(auditor, query, max_diffs=2)
    assert [e.changed is None for e in bounded] == [False, False, True, True, True]
    assert all(e.changed is None for e in timeline(auditor, query, changes=False))


def test_timeline_bad_filters(auditor: Auditor) -> None:
    with pytest.raises(InvalidRequest, match="not a time"):
        auditor.timeline(since="yesterday")
    with pytest.raises(InvalidRequest, match="earlier than"):
        auditor.timeline(since="2026-01-02", until="2026-01-01")
    with pytest.raises(InvalidRequest, match="limit"):
        auditor.timeline(limit=0)
    with pytest.raises(InvalidRequest, match="KEY=VALUE"):
        parse_labels(["env"])
    with pytest.raises(InvalidRequest, match="unknown status"):
        auditor.timeline(status="done")
    with pytest.raises(UnknownReference):
        auditor.timeline(before="01NOPE0000")
    with pytest.raises(UnknownWorkflowType, match="unknown workflow type 'NOPE'; known types: CI"):
        auditor.timeline(workflow_type="nope")
    assert history_query(auditor, workflow_type="ci").workflow_type == "CI"


def test_parse_time() -> None:
    now = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert parse_time("7d", now=now) == now - dt.timedelta(days=7)
    assert parse_time("90m", now=now) == now - dt.timedelta(minutes=90)
    assert parse_time("2026-02-01") == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert parse_time("2026-02-01T10:00:00Z") == dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC)
    assert parse_time("2026-02-01T10:00:00+02:00").astimezone(dt.UTC).hour == 8


def test_tags_and_annotations_in_the_timeline_and_the_trail(auditor: Auditor, clock: Clock) -> None:
    first = audit(auditor, clock, "r1", config(0))
    second = audit(auditor, clock, "r2", config(1))
    tag = auditor.tag("r1:CI", "baseline", by="ana")
    assert (tag.snapshot_id, tag.pipeline_id) == (first.id, "7")
    with pytest.raises(TagConflict):
        auditor.tag(second.id, "baseline")
    auditor.tag(second.id, "baseline", move=True, by="bob")
    auditor.tag("HEAD", "production", pipeline_id=7)
    note = auditor.annotate(first.id, "cache bump broke it", author="ana", path="/steps/2")
    with pytest.raises(InvalidRequest, match="not a path"):
        auditor.annotate(first.id, "x", author="ana", path="/steps/9")

    entries = {e.record.id: e for e in auditor.timeline(pipeline_id=7)}
    assert entries[second.id].tags == ("baseline", "production")
    assert entries[first.id].tags == ()
    assert [(a.id, a.path, a.author) for a in entries[first.id].annotations] == [
        (note.id, "/steps/2", "ana")
    ]
    kinds = [e.kind for e in auditor.store.list_events(subject=first.id)]
    assert kinds == [
        EventKind.AUDITED,
        EventKind.TAGGED,
        EventKind.UNTAGGED,
        EventKind.ANNOTATED,
    ]
    removed = auditor.untag("production")
    assert removed.snapshot_id == second.id
    with pytest.raises(UnknownReference):
        auditor.untag("production", pipeline_id=7)
    with pytest.raises(UnknownReference, match=r"^no tag 'zzz' \(wfaudit tags lists the tags\)$"):
        auditor.untag("zzz")


def test_references(auditor: Auditor, clock: Clock) -> None:
    records = [audit(auditor, clock, f"r{i}", config(min(i, 4))) for i in range(6)]
    cd = audit(auditor, clock, "cd1", {"deploy": 1}, workflow_type="PRE_CD")
    other = audit(auditor, clock, "o1", config(0), pipeline_id="8")
    auditor.tag(records[2].id, "baseline")

    def ref(text: str, **context: Any) -> str:
        resolved: SnapshotRecord = auditor.resolve(text, **context)
        return resolved.id

    assert ref(records[1].id) == records[1].id
    assert ref("r3:CI") == records[3].id
    assert ref("r3:ci~1") == records[2].id
    assert ref("baseline") == records[2].id
    assert ref("baseline~2") == records[0].id
    assert ref("baseline~") == records[1].id
    assert ref("HEAD", pipeline_id=7) == cd.id  # the newest of any type...
    assert ref("HEAD", pipeline_id=7, workflow_type="CI") == records[5].id  # ...or of one
    assert ref("HEAD~2", pipeline_id=7, workflow_type="ci") == records[3].id
    assert ref("HEAD", pipeline_id=8) == other.id
    # "~N" walks the base's pipeline and workflow type.
    assert ref(f"{records[0].id}~0") == records[0].id
    unique = next(
        r.id[:n]
        for n in range(4, 27)
        for r in records
        if sum(x.id.startswith(r.id[:n]) for x in [*records, cd, other]) == 1
    )
    assert auditor.resolve(unique).id.startswith(unique)
    assert auditor.get("baseline").config == config(2)

    with pytest.raises(NeedsPipeline, match="--pipeline"):
        auditor.resolve("HEAD")
    with pytest.raises(UnknownReference, match="does not go 9 snapshot"):
        auditor.resolve("baseline~9")
    with pytest.raises(UnknownReference, match="no snapshot 'nothing'"):
        auditor.resolve("nothing")
    with pytest.raises(UnknownReference, match="has no snapshots"):
        auditor.resolve("HEAD", pipeline_id=99)
    with pytest.raises(UnknownReference, match="unknown workflow type"):
        auditor.resolve("r1:NOPE")
    with pytest.raises(InvalidRequest, match="not a snapshot reference"):
        parse_reference("a~b")
    with pytest.raises(AmbiguousReference, match="prefix of several"):
        auditor.resolve(records[0].id[:4])  # ids made in one run share their time prefix

    auditor.tag(other.id, "baseline")  # the same name in pipeline 8
    with pytest.raises(AmbiguousReference, match="several pipelines"):
        auditor.resolve("baseline")
    assert ref("baseline", pipeline_id=8) == other.id


def test_diff_accepts_references(auditor: Auditor, clock: Clock) -> None:
    records = [audit(auditor, clock, f"r{i}", config(i)) for i in range(3)]
    audit(auditor, clock, "cd1", {"deploy": 1}, workflow_type="PRE_CD")
    auditor.tag(records[0].id, "baseline")

    # HEAD takes the pipeline and the workflow type of the other endpoint.
    result = auditor.diff("baseline", "HEAD")
    assert (result.a.id, result.b.id) == (records[0].id, records[2].id)
    assert result.summary.words() == "1 step modified, image"
    assert auditor.diff("HEAD~1", "baseline").a.id == records[1].id
    assert auditor.diff("HEAD~1", "HEAD", pipeline_id=7, workflow_type="CI").paths() == [
        "/steps/2/run"
    ]
    # A Snapshot and a reference mixed: the reference is read in its context.
    snapshot = auditor.get("r1:CI")
    assert auditor.diff(snapshot, "HEAD").b.id == records[2].id
    assert auditor.diff("HEAD~2", snapshot).a.id == records[0].id
    with pytest.raises(NeedsPipeline, match="both need a pipeline"):
        auditor.diff("HEAD~1", "HEAD")


def test_status_filter_is_in_the_store_query(auditor: Auditor, clock: Clock) -> None:
    for i in range(3):
        audit(auditor, clock, f"r{i}", config(i))
    auditor.record_outcome("r1", "CI", Status.SUCCEEDED)
    query = history_query(auditor, status="succeeded", pipeline_id=7)
    assert query.status is Status.SUCCEEDED
    assert [r.workflow_id for r in auditor.store.history(query)] == ["r1"]


class AuditOnlyStore:
    """A store with the Store protocol alone (no tags, annotations or prefixes)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.url = inner.url
        for name in (
            "save",
            "get_record",
            "get_record_by_id",
            "get_blob",
            "history",
            "set_status",
            "find_latest_failed",
            "append_event",
            "list_events",
            "close",
        ):
            setattr(self, name, getattr(inner, name))


def test_a_store_without_store_history(
    auditor: Auditor, clock: Clock, request: pytest.FixtureRequest
) -> None:
    first = audit(auditor, clock, "r1", config(0))
    audit(auditor, clock, "r2", config(1))
    plain = Auditor(AuditOnlyStore(auditor.store), auditor.plugin_manager, auditor.settings)
    request.addfinalizer(plain.close)
    assert isinstance(plain.store, Store) and not isinstance(plain.store, StoreHistory)
    entries = plain.timeline(pipeline_id=7)
    assert [(e.changed, e.tags) for e in entries] == [("image", ()), (FIRST, ())]
    assert plain.diff("r1:CI", "HEAD").summary.words() == "image"
    assert plain.resolve(first.id).id == first.id
    with pytest.raises(StoreError, match="does not support tags"):
        plain.tag("r1:CI", "baseline")
    with pytest.raises(StoreError, match="does not support"):
        plain.resolve("baseline")


def test_previous_snapshots_beyond_one_read_of_the_history(
    auditor: Auditor, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wfaudit.history

    records = [audit(auditor, clock, f"r{i}", config(i % 5)) for i in range(8)]
    for i in (1, 4, 7):
        auditor.record_outcome(f"r{i}", "CI", "failed")
    expected = [(records[i].id, records[i - 1].id) for i in (7, 4, 1)]
    for span in (500, 2):  # 2: the reads end before the older failures' predecessors
        monkeypatch.setattr(wfaudit.history, "SPAN", span)
        failed = auditor.timeline(pipeline_id=7, status="failed")
        assert [(e.record.id, e.previous) for e in failed] == expected


def _secret_diff(old: Any, new: Any, secret: str, op: str = "modified") -> SnapshotDiff:
    ref = SnapshotRef(id="01A", workflow_id="1", workflow_type="CI", content_hash="0" * 64)
    change = Change(op=op, path="/repo", old=old, new=new, secret=secret)
    return SnapshotDiff(a=ref, b=ref, changes=(change,))


def test_a_secret_in_a_string_does_not_hide_the_rest_of_its_change() -> None:
    """The views say ``secret changed`` and then show the masked texts (their
    placeholders are safe); a bare placeholder shows nothing more."""
    before = "https://ana:[masked:1111aaaa2222bbbb]@git.example.org/app.git"
    after = "https://ana:[masked:3333cccc4444dddd]@git.example.org/api.git"
    plain = [line.plain for line in unified_lines(_secret_diff(before, after, "changed"))]
    assert plain == ["~ /repo  secret changed", f"    - {before}", f"    + {after}"]
    script = _secret_diff(
        "login [masked:1111aaaa2222bbbb]\nmake",
        "login [masked:1111aaaa2222bbbb]\nmake test",
        "changed",
    )
    assert "    +make test" in [line.plain for line in unified_lines(script)]
    added = _secret_diff(None, after, "added", op="added")
    assert [line.plain for line in unified_lines(added)] == [
        "+ /repo  secret added",
        f"    + {after}",
    ]
    bare = _secret_diff("[masked:1111aaaa2222bbbb]", "[masked:5555eeee6666ffff]", "changed")
    assert [line.plain for line in unified_lines(bare)] == ["~ /repo  secret changed"]

    console = Console(width=200, no_color=True)
    with console.capture() as captured:
        console.print(side_by_side(_secret_diff(before, after, "changed")))
        console.print(side_by_side(bare))
    table = captured.get()
    assert before in table and after in table and table.count("secret changed") == 2
    assert "[masked:5555eeee6666ffff]" not in table  # a bare placeholder stays "secret"
