"""The mask stage: maskers mark, the engine applies every mark at once.

Maskers only *mark* paths and spans (:class:`Marks`, the engine's
:class:`~wfaudit_hookspecs.MaskContext`); :func:`apply_marks` then replaces
them on the engine's deep copy of the config. Doing it in one place means the
maskers cannot disturb each other, overlapping marks are merged, and every
masked value gets the same placeholder form with its keyed fingerprint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import attrs

from wfaudit_hookspecs import (
    Manifest,
    MaskedField,
    MaskingError,
    Path,
    RestoreRef,
    SecretReference,
    TriggerRequest,
    canonical_json,
    parse_pointer,
    to_pointer,
)
from wfaudit_hookspecs.pointer import get_at, set_at

__all__ = [
    "KEY_ENCODING",
    "Marks",
    "MaskOutcome",
    "apply_marks",
    "masked_key_text",
    "placeholder",
    "unmask",
]

PLACEHOLDER_PREFIX = "[masked:"


def placeholder(fingerprint: str) -> str:
    """The text that stands in a masked config where a secret was."""
    return f"{PLACEHOLDER_PREFIX}{fingerprint[:16]}]"


@attrs.define
class _Mark:
    rule: str
    span: tuple[int, int] | None
    restore: RestoreRef | None


class Marks:
    """The engine's mask context: collects the marks of every masker."""

    def __init__(self, request: TriggerRequest, config: Any, settings: Mapping[str, Any]) -> None:
        self._request = request
        self._config = config
        self._settings = settings
        self.whole: dict[Path, _Mark] = {}
        self.spans: dict[Path, list[_Mark]] = {}
        self.references: dict[Path, dict[tuple[str, str], SecretReference]] = {}

    @property
    def request(self) -> TriggerRequest:
        return self._request

    @property
    def config(self) -> Any:
        return self._config

    @property
    def settings(self) -> Mapping[str, Any]:
        return self._settings

    def mask(
        self,
        path: Path,
        *,
        rule: str,
        span: tuple[int, int] | None = None,
        restore: RestoreRef | None = None,
    ) -> None:
        path = tuple(path)
        if not path:
            raise MaskingError(f"masker rule {rule!r} tried to mask the whole config")
        if span is None:
            # The first rule to claim a value names it; later claims add nothing.
            self.whole.setdefault(path, _Mark(rule, None, restore))
            return
        start, end = span
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
            raise MaskingError(f"masker rule {rule!r} gave an invalid span at {to_pointer(path)}")
        self.spans.setdefault(path, []).append(_Mark(rule, (start, end), restore))

    def reference(self, path: Path, *, kind: str, name: str, rule: str = "") -> None:
        path = tuple(path)
        # One string can name several secrets (``${{ secrets.A || secrets.B }}``).
        self.references.setdefault(path, {}).setdefault(
            (kind, name), SecretReference(path=to_pointer(path), kind=kind, name=name, rule=rule)
        )

    def is_masked(self, path: Path) -> bool:
        path = tuple(path)
        return any(path[:n] in self.whole for n in range(1, len(path) + 1))

    def __len__(self) -> int:
        return len(self.whole) + sum(len(v) for v in self.spans.values())


@attrs.frozen
class MaskOutcome:
    """The masked config and what was done to it."""

    config: Any
    manifest: Manifest
    secrets: tuple[str, ...] = attrs.field(repr=False)
    """The secret texts that were removed, so that an error message produced after
    masking can be scrubbed of them. Never stored, never logged."""


def _fingerprint(key: bytes, secret: bytes) -> str:
    return hmac.new(key, secret, hashlib.sha256).hexdigest()


def apply_marks(
    marks: Marks, config: Any, key: bytes, *, adapter: str | None, maskers: tuple[str, ...]
) -> MaskOutcome:
    """Replace every marked value of ``config`` (the engine's own copy) in place."""
    fields: list[MaskedField] = []
    secrets: list[str] = []
    masked_paths: set[Path] = set()

    # Shorter paths first, so that a masked object covers the marks inside it.
    for path in sorted(marks.whole, key=len):
        if any(path[:n] in masked_paths for n in range(1, len(path))):
            continue
        mark = marks.whole[path]
        value = _existing(config, path, mark.rule)
        if isinstance(value, str):
            encoding, secret = "text", value
        else:
            encoding, secret = "json", canonical_json(value).decode("utf-8")
        fingerprint = _fingerprint(key, secret.encode("utf-8"))
        set_at(config, path, placeholder(fingerprint))
        masked_paths.add(path)
        secrets.append(secret)
        fields.append(
            MaskedField(
                path=to_pointer(path),
                rule=mark.rule,
                fingerprint=fingerprint,
                encoding=encoding,
                restore=mark.restore,
            )
        )

    for path, span_marks in marks.spans.items():
        if any(path[:n] in masked_paths for n in range(1, len(path) + 1)):
            continue
        value = _existing(config, path, span_marks[0].rule)
        if not isinstance(value, str):
            raise MaskingError(
                f"masker rule {span_marks[0].rule!r} marked a span in a non-string at "
                f"{to_pointer(path)}"
            )
        new_value, span_fields = _mask_spans(value, path, span_marks, key, secrets)
        set_at(config, path, new_value)
        fields.extend(span_fields)

    references = tuple(
        sorted(
            (
                ref
                for path, refs in marks.references.items()
                if not any(path[:n] in masked_paths for n in range(1, len(path) + 1))
                for ref in refs.values()
            ),
            key=lambda ref: (ref.path, ref.kind, ref.name),
        )
    )
    fields.sort(key=lambda f: (f.path, f.span or (0, 0)))
    manifest = Manifest(
        fields=tuple(fields), references=references, adapter=adapter, maskers=maskers
    )
    return MaskOutcome(config=config, manifest=manifest, secrets=tuple(secrets))


def _existing(config: Any, path: Path, rule: str) -> Any:
    try:
        return get_at(config, path)
    except (KeyError, IndexError, TypeError):
        raise MaskingError(
            f"masker rule {rule!r} marked {to_pointer(path)}, which is not in the config"
        ) from None


def _mask_spans(
    value: str, path: Path, span_marks: list[_Mark], key: bytes, secrets: list[str]
) -> tuple[str, list[MaskedField]]:
    # Merge overlapping or touching spans: the union is what must not be stored.
    ordered = sorted(span_marks, key=lambda m: m.span or (0, 0))
    merged: list[tuple[int, int, _Mark]] = []
    for mark in ordered:
        assert mark.span is not None
        start, end = mark.span
        if end > len(value):
            raise MaskingError(
                f"masker rule {mark.rule!r} gave a span past the end of {to_pointer(path)}"
            )
        if merged and start <= merged[-1][1]:
            prev_start, prev_end, prev_mark = merged[-1]
            merged[-1] = (prev_start, max(prev_end, end), prev_mark)
        else:
            merged.append((start, end, mark))

    pieces: list[str] = []
    fields: list[MaskedField] = []
    cursor = 0
    out_len = 0
    for start, end, mark in merged:
        pieces.append(value[cursor:start])
        out_len += start - cursor
        secret = value[start:end]
        fingerprint = _fingerprint(key, secret.encode("utf-8"))
        token = placeholder(fingerprint)
        pieces.append(token)
        fields.append(
            MaskedField(
                path=to_pointer(path),
                rule=mark.rule,
                fingerprint=fingerprint,
                span=(out_len, out_len + len(token)),
                restore=mark.restore,
            )
        )
        secrets.append(secret)
        out_len += len(token)
        cursor = end
    pieces.append(value[cursor:])
    return "".join(pieces), fields


KEY_ENCODING = "key"
"""The ``encoding`` of a :class:`MaskedField` that is a mapping *key*: its ``path``
points at the entry under its masked key (the placeholder is the path's last
token), and a ``span`` is one of the placeholders inside that key's text."""


def unmask(config: Any, fields: tuple[MaskedField, ...], values: Mapping[str, str]) -> Any:
    """Put secrets back into a masked config (the engine's own copy), in place.

    ``values`` maps each field's :attr:`~MaskedField.key` to its secret. Spans of
    one string are put back from the last to the first, so that the recorded
    offsets stay valid. Masked mapping keys (:data:`KEY_ENCODING`) are put back
    last, the deepest first, since the other fields' paths name them masked.
    """
    by_path: dict[str, list[MaskedField]] = {}
    keys: dict[str, list[MaskedField]] = {}
    for field in fields:
        target = keys if field.encoding == KEY_ENCODING else by_path
        target.setdefault(field.path, []).append(field)
    for pointer, path_fields in by_path.items():
        path = parse_pointer(pointer, config)
        whole = [f for f in path_fields if f.span is None]
        if whole:
            field = whole[0]
            secret = values[field.key]
            set_at(config, path, json.loads(secret) if field.encoding == "json" else secret)
            continue
        text = get_at(config, path)
        for field in sorted(path_fields, key=lambda f: f.span or (0, 0), reverse=True):
            assert field.span is not None
            start, end = field.span
            text = text[:start] + values[field.key] + text[end:]
        set_at(config, path, text)
    for pointer in sorted(keys, key=lambda p: p.count("/"), reverse=True):
        path = parse_pointer(pointer, config)
        parent = get_at(config, path[:-1])
        masked = str(path[-1])
        if not isinstance(parent, dict) or masked not in parent:
            raise MaskingError(f"the masked key at {pointer} is not in the config")
        original = masked_key_text(masked, keys[pointer], values)
        if original != masked and original in parent:
            raise MaskingError(f"restoring the masked key at {pointer} would overwrite a key")
        items = list(parent.items())
        parent.clear()
        parent.update((original if k == masked else k, v) for k, v in items)
    return config


def masked_key_text(masked: str, fields: list[MaskedField], values: Mapping[str, str]) -> str:
    """The original text of a masked key, from its fields' secrets."""
    whole = [f for f in fields if f.span is None]
    if whole:
        return values[whole[0].key]
    text = masked
    for field in sorted(fields, key=lambda f: f.span or (0, 0), reverse=True):
        assert field.span is not None
        start, end = field.span
        text = text[:start] + values[field.key] + text[end:]
    return text
