"""Assertions about audit behaviour, with failure messages a person can act on.

Failure messages name paths, rules and places, never a secret's value.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from wfaudit.auditor import Auditor
from wfaudit.diff import SnapshotDiff, diff_configs
from wfaudit.masking import PLACEHOLDER_PREFIX
from wfaudit.words import plural
from wfaudit_hookspecs import (
    Snapshot,
    SnapshotNotFound,
    TriggerRequest,
    canonical_json,
    parse_pointer,
)
from wfaudit_hookspecs.pointer import get_at

from .scan import Finding, Secrets, find_secrets, label_secrets

__all__ = [
    "assert_audited",
    "assert_differ_exactly",
    "assert_masked",
    "assert_no_secret",
    "assert_restored",
]


def assert_audited(auditor: Auditor, workflow_id: str | int, workflow_type: str) -> Snapshot:
    """The trigger was audited; returns its snapshot."""
    try:
        return auditor.get_snapshot(workflow_id, workflow_type)
    except SnapshotNotFound:
        recent = [f"{r.workflow_type} {r.workflow_id}" for r in auditor.history(limit=10)]
        raise AssertionError(
            f"{workflow_type} workflow {workflow_id!s} was not audited; "
            f"latest snapshots: {', '.join(recent) or 'none'}"
        ) from None


def assert_masked(snapshot: Snapshot, *pointers: str) -> None:
    """Each JSON pointer is masked in the snapshot (whole value or a span in it)."""
    masked = {field.path for field in snapshot.manifest.fields}
    problems = []
    for pointer in pointers:
        if pointer not in masked:
            problems.append(f"{pointer} is not in the manifest")
            continue
        try:
            value = get_at(snapshot.config, parse_pointer(pointer, snapshot.config))
        except (KeyError, IndexError, TypeError):
            problems.append(f"{pointer} is in the manifest but not in the config")
            continue
        if not (isinstance(value, str) and PLACEHOLDER_PREFIX in value):
            problems.append(f"{pointer} holds no placeholder")
    if problems:
        listed = ", ".join(sorted(masked)) or "nothing"
        raise AssertionError("; ".join(problems) + f" (masked paths: {listed})")


def assert_no_secret(
    secrets: Iterable[str] | Mapping[str, str],
    *,
    auditor: Auditor | None = None,
    database_url: str | None = None,
    paths: Iterable[pathlib.Path] = (),
    texts: Iterable[tuple[str, str]] = (),
) -> None:
    """No secret appears anywhere given, in any form (plain, escaped, encoded).

    Give the store's real URL (``database_url``) to scan every table, the
    SQLite files and spool directory (``paths``), the auditor to scan every
    snapshot, and captured logs or command output (``texts``). ``secrets`` may
    map labels to secrets (``{"docker password": ...}``): a failure names each
    leak once, by where it is (table, row and column; file; snapshot and JSON
    pointer; text) and by the secret's label (or ``secret #N``), never by value.
    """
    __tracebackhide__ = True  # the frame's locals hold the secrets
    labelled = label_secrets(secrets)
    del secrets
    findings = find_secrets(
        Secrets(labelled), auditor=auditor, database_url=database_url, paths=paths, texts=texts
    )
    del labelled
    if findings:
        raise AssertionError(leak_report(findings))


def leak_report(findings: Sequence[Finding], limit: int = 20) -> str:
    """The failure message of :func:`assert_no_secret`: one line per finding."""
    lines = [
        f"  {f.label or f'secret #{f.secret_index + 1}'} in {f.where} [{f.form}]"
        for f in findings[:limit]
    ]
    more = f"\n  ... and {len(findings) - limit} more" if len(findings) > limit else ""
    return (
        f"{plural(len(findings), 'secret leak')}:\n"
        + "\n".join(lines)
        + more
        + "\n(values not shown)"
    )


def assert_differ_exactly(diff: SnapshotDiff, paths: Sequence[str]) -> None:
    """Two snapshots differ at exactly these JSON pointers."""
    found = set(diff.paths())
    wanted = set(paths)
    if found != wanted:
        parts = []
        if wanted - found:
            parts.append(f"expected but unchanged: {', '.join(sorted(wanted - found))}")
        if found - wanted:
            parts.append(f"changed but not expected: {', '.join(sorted(found - wanted))}")
        raise AssertionError("snapshots differ elsewhere than expected; " + "; ".join(parts))


def assert_restored(original: TriggerRequest, restored: TriggerRequest) -> None:
    """A retrigger's request is the original, byte for byte (canonical JSON)."""
    identity = ("workflow_id", "workflow_type", "pipeline_id", "triggered_by", "tenant")
    differing = [name for name in identity if getattr(original, name) != getattr(restored, name)]
    if canonical_json(original.config) == canonical_json(restored.config) and not differing:
        return
    changed = [change.path for change in diff_configs(original.config, restored.config)]
    raise AssertionError(
        "the restored request differs from the original"
        + (f" in {', '.join(differing)}" if differing else "")
        + (f" at {', '.join(changed[:20])}" if changed else "")
        + " (values not shown: they may be secrets)"
    )


def describe_config_difference(left: Any, right: Any) -> list[str]:
    """Lines naming the paths where two (masked) configs differ."""
    return [f"  {c.op} {c.path}" for c in diff_configs(left, right)][:50]
