"""The retention policy: how long a snapshot is kept, and the verdict on one snapshot.

Pure decisions: nothing here reads or writes a store.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import attrs

from wfaudit_hookspecs import (
    ConfigurationError,
    Status,
)
from wfaudit_hookspecs.retention import (
    ArchiveRetention,
    RetentionCandidate,
    parse_selector,
    selector_matches,
)

__all__ = [
    "DAY",
    "DEFAULT_KEEP",
    "Archive",
    "ArchiveVerdict",
    "RetentionPolicy",
    "RetentionRule",
    "Verdict",
    "parse_duration",
]

if TYPE_CHECKING:
    pass

DAY = _dt.timedelta(days=1)

DEFAULT_KEEP: Mapping[str, _dt.timedelta | None] = {
    Status.SUCCEEDED.value: 30 * DAY,
    Status.FAILED.value: 90 * DAY,
    Status.ERROR.value: 90 * DAY,
    Status.CANCELLED.value: 30 * DAY,
    Status.RUNNING.value: 90 * DAY,
    Status.TRIGGERED.value: 90 * DAY,
}
"""How long a snapshot is kept after its run ended, by outcome."""

_UNITS = {
    "h": _dt.timedelta(hours=1),
    "hour": _dt.timedelta(hours=1),
    "hours": _dt.timedelta(hours=1),
    "d": DAY,
    "day": DAY,
    "days": DAY,
    "w": 7 * DAY,
    "week": 7 * DAY,
    "weeks": 7 * DAY,
    "mo": 30 * DAY,
    "month": 30 * DAY,
    "months": 30 * DAY,
    "y": 365 * DAY,
    "year": 365 * DAY,
    "years": 365 * DAY,
}
_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$")
_FOREVER = frozenset({"forever", "never", "indefinitely"})


def parse_duration(value: object, *, name: str = "duration") -> _dt.timedelta | None:
    """``"30d"``, ``"6mo"``, ``"5y"``, ``"12h"``, ``"2w"`` (or a number of days) as a
    timedelta; ``"forever"`` is None (kept indefinitely). A month is 30 days and a
    year 365.

    :raises ConfigurationError: anything else.
    """
    if isinstance(value, _dt.timedelta):
        return value
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} {value!r} is not a duration such as 30d or 6mo")
    if isinstance(value, int):
        if value < 0:
            raise ConfigurationError(f"{name} {value} is negative")
        return value * DAY
    text = str(value).strip().lower()
    if text in _FOREVER:
        return None
    match = _DURATION.match(text)
    unit = _UNITS.get(match.group(2) or "d") if match else None
    if match is None or unit is None:
        raise ConfigurationError(
            f"{name} {value!r} is not a duration: write 12h, 30d, 2w, 6mo, 5y or forever"
        )
    return int(match.group(1)) * unit


def _describe(period: _dt.timedelta | None) -> str:
    if period is None:
        return "forever"
    days = period.days
    if days and days % 365 == 0:
        return f"{days // 365}y"
    if days >= 180 and days % 30 == 0:
        return f"{days // 30}mo"
    if period.seconds and not days:
        return f"{period.seconds // 3600}h"
    return f"{days}d"


class Archive(StrEnum):
    """When a rule archives the snapshots it matches."""

    BEFORE_DELETE = "before-delete"
    """When they are deleted (the default, if an archive is configured)."""
    IMMEDIATELY = "immediately"
    """At the next sweep, whatever their age (they stay in the store too)."""


@attrs.frozen(kw_only=True)
class RetentionRule:
    """A label-selector override: snapshots whose labels match are kept ``keep``.

    :ivar selector: ``(key, value)`` pairs that must all be among the labels.
    :ivar keep: the period (None: forever).
    :ivar archive: when matching snapshots are archived.
    """

    selector: tuple[tuple[str, str], ...]
    keep: _dt.timedelta | None
    archive: Archive = Archive.BEFORE_DELETE
    archive_keep: _dt.timedelta | None = None
    """How long the archive objects of matching snapshots are kept (None: forever),
    when ``archive_keep_set``; else the policy's ``archive_keep`` applies."""
    archive_keep_set: bool = False

    @classmethod
    def of(
        cls,
        selector: str,
        keep: object,
        archive: str | Archive = Archive.BEFORE_DELETE,
        archive_keep: object = None,
    ) -> RetentionRule:
        """A rule from its settings' form: ``RetentionRule.of("category=security", "5y",
        archive="immediately", archive_keep="7y")`` (``archive_keep`` None: the
        policy's)."""
        try:
            when = Archive(archive)
        except ValueError:
            raise ConfigurationError(
                f"retention rule {selector!r}: archive must be 'before-delete' or "
                f"'immediately', not {archive!r}"
            ) from None
        return cls(
            selector=parse_selector(selector),
            keep=parse_duration(keep, name=f"retention rule {selector!r}: keep"),
            archive=when,
            archive_keep=None
            if archive_keep is None
            else parse_duration(archive_keep, name=f"retention rule {selector!r}: archive_keep"),
            archive_keep_set=archive_keep is not None,
        )

    @property
    def name(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.selector)


@attrs.frozen(kw_only=True)
class Verdict:
    """What the policy says of one snapshot, before holds and references."""

    keep: _dt.timedelta | None
    due: _dt.datetime | None
    basis: str
    archive_now: bool


@attrs.frozen(kw_only=True)
class ArchiveVerdict:
    """How long the policy keeps one archive object, and why."""

    expires_on: _dt.datetime | None
    reason: str
    basis: str


@attrs.frozen(kw_only=True)
class RetentionPolicy:
    """The retention policy. Build it with :meth:`from_options` or in code.

    :ivar by_status: the period of each outcome (None: forever); an outcome it
        does not name keeps its default (:data:`DEFAULT_KEEP`).
    :ivar rules: label-selector overrides.
    :ivar minimum: the compliance minimum of a snapshot: no period is shorter.
    :ivar trail_minimum: the compliance minimum of the audit trail (the trail is
        never pruned by retention; the plan reports until when it is guaranteed).
    :ivar restored_keep: a restored snapshot is kept at least this long after
        its restore, whatever its age.
    :ivar archive_before_delete: archive every snapshot before deleting it
        (deletion without an archive configured is then refused).
    :ivar archive_url: the archive store (``s3://bucket/prefix``, ``file:///dir``).
    :ivar archive_prefix: the first part of every archive key.
    :ivar orphan_grace: an unrecorded archive object of this store is deleted as
        an orphan only once it is older than this (by its header's ``archived_on``).
    """

    by_status: Mapping[str, _dt.timedelta | None] = attrs.field(factory=lambda: dict(DEFAULT_KEEP))
    rules: tuple[RetentionRule, ...] = ()
    minimum: _dt.timedelta = _dt.timedelta(0)
    trail_minimum: _dt.timedelta = 7 * 365 * DAY
    restored_keep: _dt.timedelta = 30 * DAY
    archive_before_delete: bool = True
    archive_url: str | None = None
    archive_prefix: str = "wfaudit"
    orphan_grace: _dt.timedelta = DAY
    archive_keep: _dt.timedelta | None = None
    """How long an archive object is kept after the archiving (None: forever),
    unless a matching rule's ``archive_keep`` says otherwise."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> RetentionPolicy:
        """The policy of a ``[tool.wfaudit.retention]`` table (and ``WFAUDIT_ARCHIVE_URL``).

        Keys: ``succeeded``, ``failed``, ``error``, ``cancelled``, ``running``,
        ``triggered`` (periods), ``minimum``, ``trail_minimum``,
        ``restored_keep``, ``orphan_grace``, ``archive_before_delete``,
        ``archive_url``, ``archive_prefix`` and ``[[rules]]`` tables of
        ``selector``, ``keep``, ``archive``.

        :raises ConfigurationError: an unknown key or a bad value.
        """
        table = dict(options or {})
        known = {
            *DEFAULT_KEEP,
            "minimum",
            "trail_minimum",
            "restored_keep",
            "orphan_grace",
            "archive_before_delete",
            "archive_url",
            "archive_prefix",
            "archive_keep",
            "rules",
        }
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigurationError(
                f"[tool.wfaudit.retention] has unknown keys: {', '.join(unknown)}"
            )
        by_status = dict(DEFAULT_KEEP)
        for status in DEFAULT_KEEP:
            if status in table:
                by_status[status] = parse_duration(table[status], name=f"retention {status}")
        rules = []
        for entry in table.get("rules", []):
            if not isinstance(entry, Mapping) or "selector" not in entry or "keep" not in entry:
                raise ConfigurationError(
                    "each [[tool.wfaudit.retention.rules]] needs a selector and keep"
                )
            extra = sorted(set(entry) - {"selector", "keep", "archive", "archive_keep"})
            if extra:
                raise ConfigurationError(f"retention rule has unknown keys: {', '.join(extra)}")
            rules.append(
                RetentionRule.of(
                    str(entry["selector"]),
                    entry["keep"],
                    entry.get("archive", Archive.BEFORE_DELETE),
                    entry.get("archive_keep"),
                )
            )
        floors = {}
        for key, default in (
            ("minimum", _dt.timedelta(0)),
            ("trail_minimum", 7 * 365 * DAY),
            ("restored_keep", 30 * DAY),
            ("orphan_grace", DAY),
        ):
            value = parse_duration(table.get(key, default), name=f"retention {key}")
            if value is None:
                raise ConfigurationError(f"retention {key} must be a period, not forever")
            floors[key] = value
        before = table.get("archive_before_delete", True)
        if not isinstance(before, bool):
            raise ConfigurationError("retention archive_before_delete must be true or false")
        url = os.environ.get("WFAUDIT_ARCHIVE_URL") or table.get("archive_url") or None
        return cls(
            by_status=by_status,
            rules=tuple(rules),
            minimum=floors["minimum"],
            trail_minimum=floors["trail_minimum"],
            restored_keep=floors["restored_keep"],
            orphan_grace=floors["orphan_grace"],
            archive_before_delete=before,
            archive_url=None if url is None else str(url),
            archive_prefix=str(table.get("archive_prefix", "wfaudit")).strip("/") or "wfaudit",
            archive_keep=parse_duration(
                table.get("archive_keep", "forever"), name="retention archive_keep"
            ),
        )

    def archive_verdict(
        self, labels: Mapping[str, str], archived_on: _dt.datetime
    ) -> ArchiveVerdict:
        """When an archive object (of a snapshot with these ``labels``, archived at
        ``archived_on``) expires: the longest ``archive_keep`` of the matching rules
        that set one (reason ``policy``), else the policy's (``ttl``)."""
        matching = [
            rule
            for rule in self.rules
            if rule.archive_keep_set and selector_matches(rule.selector, labels)
        ]
        if matching:
            chosen = max(
                matching,
                key=lambda rule: (
                    _dt.timedelta.max if rule.archive_keep is None else rule.archive_keep
                ),
            )
            keep, reason = chosen.archive_keep, ArchiveRetention.POLICY
            basis = f"rule {chosen.name}: archive kept {_describe(keep)}"
        else:
            keep, reason = self.archive_keep, ArchiveRetention.TTL
            basis = f"archive_keep: {_describe(keep)}"
        return ArchiveVerdict(
            expires_on=None if keep is None else archived_on + keep, reason=reason, basis=basis
        )

    def verdict(self, candidate: RetentionCandidate) -> Verdict:
        """How long ``candidate`` is kept, why, and whether it is archived at once."""
        matching = [
            rule for rule in self.rules if selector_matches(rule.selector, candidate.labels)
        ]
        if matching:
            # The longest period wins (forever beats any); ties: the first rule.
            chosen = max(
                matching, key=lambda rule: _dt.timedelta.max if rule.keep is None else rule.keep
            )
            keep, basis = chosen.keep, f"rule {chosen.name}: {_describe(chosen.keep)}"
        else:
            status = candidate.status
            keep = self.by_status.get(status, DEFAULT_KEEP.get(status, 90 * DAY))
            basis = f"{candidate.status}: {_describe(keep)}"
        if keep is not None and keep < self.minimum:
            keep = self.minimum
            basis += f", raised to the compliance minimum {_describe(self.minimum)}"
        due = None if keep is None else candidate.updated_on + keep
        if due is not None and candidate.restored_on is not None:
            again = candidate.restored_on + self.restored_keep
            if again > due:
                due = again
                basis += f", restored {candidate.restored_on:%Y-%m-%d}"
        return Verdict(
            keep=keep,
            due=due,
            basis=basis,
            archive_now=any(rule.archive == Archive.IMMEDIATELY for rule in matching),
        )
