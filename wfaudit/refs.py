"""Snapshot references: what ``wfaudit diff``, ``show``, ``tag`` and ``annotate`` accept.

A reference is a *base*, optionally followed by ``~N`` (``N`` snapshots older,
in the base's pipeline history; ``~`` alone is ``~1``):

* a snapshot id (``01JD3F8Q2M...``), or a unique prefix of one (4 characters
  or more);
* ``WORKFLOW_ID:TYPE``, the snapshot of one workflow run (``1001:CI``);
* a tag name (``baseline``): tags are unique within a pipeline, so a name used
  in several pipelines needs a pipeline context;
* ``HEAD``: the newest snapshot of the pipeline in context.

The *pipeline context* is the ``pipeline_id`` (and ``workflow_type``) given,
or else the pipeline and type of the other endpoint of a diff. ``~N`` walks the
history of the base's pipeline *and workflow type* (a CI request is compared
with CI requests), as does ``HEAD`` when a type is known.

A base is tried in this order: exact id, ``WORKFLOW_ID:TYPE``, ``HEAD``, tag,
id prefix. A name that is both a tag and an id prefix is the tag.
"""

from __future__ import annotations

import re

import attrs

from wfaudit_hookspecs import (
    AmbiguousReference,
    HistoryQuery,
    InvalidRequest,
    SnapshotRecord,
    Store,
    StoreError,
    StoreHistory,
    StoreProxy,
    UnknownReference,
    normalize_workflow_type,
)

from .words import plural

__all__ = [
    "MIN_PREFIX",
    "NeedsPipeline",
    "Reference",
    "history_store",
    "optional_history_store",
    "parse_reference",
    "resolve",
    "resolve_pair",
]

MIN_PREFIX = 4
"""The shortest id prefix taken as a reference (shorter ones match too much)."""

_REFERENCE = re.compile(r"^(?P<base>[^~\s]+)(?P<rel>~(?P<n>\d{0,9}))?$")
HEAD = "HEAD"


class NeedsPipeline(InvalidRequest):
    """``HEAD`` (or a tag used in several pipelines) with no pipeline in context."""


@attrs.frozen(kw_only=True)
class Reference:
    """A parsed reference: its base and how many snapshots back from it."""

    text: str
    base: str
    back: int = 0


def parse_reference(text: str) -> Reference:
    """Parse ``BASE`` or ``BASE~N``; raise :class:`InvalidRequest` on anything else."""
    match = _REFERENCE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidRequest(
            f"{text!r} is not a snapshot reference (an id or id prefix, WORKFLOW_ID:TYPE, "
            "a tag, HEAD, each optionally followed by ~N)"
        )
    back = 0
    if match.group("rel") is not None:
        back = int(match.group("n") or 1)
    return Reference(text=text.strip(), base=match.group("base"), back=back)


def history_store(store: Store) -> StoreHistory:
    """The store's :class:`StoreHistory` side, or a clear error when it has none."""
    target = optional_history_store(store)
    if target is None:
        raise StoreError(
            f"the store at {store.url} does not support tags, annotations or id prefixes"
        )
    return target


def optional_history_store(store: Store) -> StoreHistory | None:
    """The store's :class:`StoreHistory` side, or None when it has none."""
    target: object = store
    if not isinstance(target, StoreHistory) and isinstance(target, StoreProxy):
        target = target.opened()  # the spool's DeferredStore stands in for the real one
    return target if isinstance(target, StoreHistory) else None


def resolve(
    store: Store,
    text: str,
    *,
    tenant: str | None = None,
    pipeline_id: str | None = None,
    workflow_type: str | None = None,
    workflow_types: frozenset[str] | None = None,
    context: SnapshotRecord | None = None,
) -> SnapshotRecord:
    """The record a reference names.

    :param tenant: the tenant to look in (None: any).
    :param pipeline_id: the pipeline (for ``HEAD``; a tag must be in it).
    :param workflow_type: narrows ``HEAD`` to one workflow type.
    :param workflow_types: the declared types, to recognise ``WORKFLOW_ID:TYPE``.
    :param context: the other endpoint of a diff: ``HEAD`` without a pipeline
        is in its pipeline and type, and a tag name is looked for in its
        pipeline first.
    :raises UnknownReference: nothing has that name.
    :raises AmbiguousReference: several snapshots have it; the message says how
        to narrow it.
    :raises NeedsPipeline: ``HEAD`` without a pipeline in context.
    """
    ref = parse_reference(text)
    workflow_type = normalize_workflow_type(workflow_type) if workflow_type else None
    base, head_query = _base(
        store,
        ref,
        tenant=tenant,
        pipeline_id=pipeline_id,
        workflow_type=workflow_type,
        workflow_types=workflow_types or frozenset(),
        context=context,
    )
    if ref.back == 0:
        return base
    if head_query is not None:  # HEAD~N: the (N+1)th newest of the context's history
        query = attrs.evolve(head_query, offset=ref.back, limit=1)
    else:
        query = HistoryQuery(
            # '' is "no tenant" in a store query (None would be any tenant).
            tenant=base.tenant or "",
            pipeline_id=base.pipeline_id,
            workflow_type=base.workflow_type,
            before=base.created_on,
            before_id=base.id,
            offset=ref.back - 1,
            limit=1,
        )
    found = store.history(query)
    if not found:
        raise UnknownReference(
            f"{ref.text!r}: the history of pipeline {base.pipeline_id!r} "
            f"({base.workflow_type}) does not go {plural(ref.back, 'snapshot')} back from "
            f"{ref.base}"
        )
    return found[0]


def resolve_pair(
    store: Store,
    a: str,
    b: str,
    *,
    tenant: str | None = None,
    pipeline_id: str | None = None,
    workflow_type: str | None = None,
    workflow_types: frozenset[str] | None = None,
) -> tuple[SnapshotRecord, SnapshotRecord]:
    """Resolve a diff's two endpoints; one that needs a pipeline takes the other's.

    ``wfaudit diff baseline HEAD``: ``HEAD`` is the newest snapshot of the
    pipeline (and workflow type) that ``baseline`` is in.
    """

    def one(text: str, context: SnapshotRecord | None) -> SnapshotRecord:
        return resolve(
            store,
            text,
            tenant=tenant,
            pipeline_id=pipeline_id,
            workflow_type=workflow_type,
            workflow_types=workflow_types,
            context=context,
        )

    try:
        left = one(a, None)
    except NeedsPipeline:
        try:
            right = one(b, None)
        except NeedsPipeline:
            raise NeedsPipeline(
                f"{a!r} and {b!r} both need a pipeline: give --pipeline P "
                "(or name one endpoint by id, WORKFLOW_ID:TYPE or tag)"
            ) from None
        return one(a, right), right
    return left, one(b, left)


def _base(
    store: Store,
    ref: Reference,
    *,
    tenant: str | None,
    pipeline_id: str | None,
    workflow_type: str | None,
    workflow_types: frozenset[str],
    context: SnapshotRecord | None,
) -> tuple[SnapshotRecord, HistoryQuery | None]:
    """The record the base names, and for ``HEAD`` the history query it heads."""
    name = ref.base
    record = store.get_record_by_id(name, tenant=tenant)
    if record is not None:
        return record, None

    run_id, sep, run_type = name.rpartition(":")
    if sep and run_id and run_type:
        kind = normalize_workflow_type(run_type)
        if workflow_types and kind not in workflow_types:
            raise UnknownReference(
                f"{name!r}: unknown workflow type {kind!r} in WORKFLOW_ID:TYPE "
                f"(known: {', '.join(sorted(workflow_types))})"
            )
        record = store.get_record(workflow_id=run_id, workflow_type=kind, tenant=tenant)
        if record is None:
            raise UnknownReference(f"no snapshot of {kind} workflow {run_id!r}")
        return record, None

    if name == HEAD:
        pipeline: str | None = pipeline_id
        head_type: str | None = workflow_type
        if pipeline is None and context is not None:
            pipeline = context.pipeline_id
        if head_type is None and context is not None and context.pipeline_id == pipeline:
            head_type = context.workflow_type
        if pipeline is None:
            raise NeedsPipeline(f"{ref.text!r} needs a pipeline: give --pipeline P")
        query = HistoryQuery(
            tenant=tenant if context is None else context.tenant or "",
            pipeline_id=pipeline,
            workflow_type=head_type,
            limit=1,
        )
        newest = store.history(query)
        if not newest:
            of_type = f" ({head_type})" if head_type else ""
            raise UnknownReference(f"HEAD: pipeline {pipeline!r}{of_type} has no snapshots")
        return newest[0], query

    history = history_store(store)
    tagged = history.list_tags(name=name, pipeline_id=pipeline_id, tenant=tenant)
    if pipeline_id is None and context is not None and len(tagged) > 1:
        near = [t for t in tagged if t.pipeline_id == context.pipeline_id]
        tagged = near or tagged
    if len(tagged) == 1:
        record = store.get_record_by_id(tagged[0].snapshot_id, tenant=tenant)
        if record is not None:
            return record, None
    elif len(tagged) > 1:
        where = ", ".join(
            f"{t.pipeline_id}" + (f" (tenant {t.tenant})" if t.tenant else "") for t in tagged
        )
        raise AmbiguousReference(
            f"tag {name!r} is in several pipelines ({where}); give --pipeline P"
        )

    if len(name) >= MIN_PREFIX:
        matches = history.find_by_id_prefix(name, tenant=tenant, limit=2)
        if len(matches) == 1:
            return matches[0], None
        if len(matches) > 1:
            raise AmbiguousReference(
                f"{name!r} is the prefix of several snapshot ids "
                f"({matches[0].id}, {matches[1].id}, ...); give more characters"
            )
    in_pipeline = f" in pipeline {pipeline_id!r}" if pipeline_id else ""
    raise UnknownReference(
        f"no snapshot {name!r}{in_pipeline} (not an id, an id prefix of {MIN_PREFIX}+ "
        "characters, WORKFLOW_ID:TYPE, a tag or HEAD)"
    )
