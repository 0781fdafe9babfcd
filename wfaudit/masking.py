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
import re
from collections.abc import Mapping, Sequence
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
    WfauditError,
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
    "reference_spans",
    "unmask",
    "where",
]

PLACEHOLDER_PREFIX = "[masked:"

KEY_ENCODING = "key"
"""The ``encoding`` of a :class:`MaskedField` that is a mapping *key*: its ``path``
points at the entry under its masked key (the placeholder is the path's last
token), and a ``span`` is one of the placeholders inside that key's text."""


def placeholder(fingerprint: str) -> str:
    """The text that stands in a masked config where a secret was."""
    return f"{PLACEHOLDER_PREFIX}{fingerprint[:16]}]"


@attrs.define
class _Mark:
    rule: str
    span: tuple[int, int] | None
    restore: RestoreRef | None


class Marks:
    """The engine's mask context: collects the marks of every masker.

    :param reference_syntax: the reference syntaxes adapters declared
        (``wfaudit_reference_syntax``): ``(kind, compiled pattern)``. Text that one
        of them matches is a reference and is never masked, whichever masker marks it.
    """

    def __init__(
        self,
        request: TriggerRequest,
        config: Any,
        settings: Mapping[str, Any],
        reference_syntax: Sequence[tuple[str, re.Pattern[str]]] = (),
    ) -> None:
        self._request = request
        self._config = config
        self._settings = settings
        self._syntax = tuple(reference_syntax)
        self.whole: dict[Path, _Mark] = {}
        self.spans: dict[Path, list[_Mark]] = {}
        self.keys: dict[Path, _Mark] = {}
        self.references: dict[Path, dict[tuple[str, str], SecretReference]] = {}
        # What an adapter declared a reference (``{"fromSecret": NAME}``, a
        # ``secretKeyRef``) names a secret and holds none: nothing at or under it
        # is masked, whatever key it sits under (``REGISTRY_PASSWORD``).
        self._declared_paths = frozenset(_reference_paths(request.references, config))

    @property
    def request(self) -> TriggerRequest:
        return self._request

    @property
    def config(self) -> Any:
        return self._config

    @property
    def settings(self) -> Mapping[str, Any]:
        return self._settings

    @property
    def reference_syntax(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return self._syntax

    def mask(
        self,
        path: Path,
        *,
        rule: str,
        span: tuple[int, int] | None = None,
        restore: RestoreRef | None = None,
        key: bool = False,
    ) -> None:
        path = tuple(path)
        if not path:
            raise MaskingError(f"masker rule {rule!r} tried to mask the whole config")
        if key:
            if not isinstance(path[-1], str) or span is not None:
                raise MaskingError(
                    f"masker rule {rule!r} marked a key that is not an object key, "
                    f"at {where(self._config, path)}"
                )
            if self._syntax and _declared(self._syntax, path[-1]):
                return  # a reference an adapter declared is never a secret
            self.keys.setdefault(path, _Mark(rule, None, restore))
            return
        if self._declared_paths and any(
            path[:n] in self._declared_paths for n in range(1, len(path) + 1)
        ):
            return  # listed by the adapter as a reference: never masked
        if span is None and self._syntax:
            value = self._string_at(path)
            if value is not None and reference_spans(self._syntax, value):
                if _declared(self._syntax, value):
                    # Nothing but declared references: listed, never masked.
                    for _, _, kind, name in reference_spans(self._syntax, value):
                        self.reference(path, kind=kind, name=name, rule="declared")
                    return
                span = (0, len(value))  # masked around the references it holds
        if span is None:
            # The first rule to claim a value names it; later claims add nothing.
            self.whole.setdefault(path, _Mark(rule, None, restore))
            return
        start, end = span
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
            raise MaskingError(
                f"masker rule {rule!r} gave an invalid span at {where(self._config, path)}"
            )
        if self._syntax:
            for piece in _outside_references(self._syntax, self._config, path, start, end):
                self.spans.setdefault(path, []).append(_Mark(rule, piece, restore))
            return
        self.spans.setdefault(path, []).append(_Mark(rule, (start, end), restore))

    def _string_at(self, path: Path) -> str | None:
        try:
            value = get_at(self._config, path)
        except (KeyError, IndexError, TypeError):
            return None  # apply_marks reports the bad path
        return value if isinstance(value, str) else None

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
    """Replace every marked value of ``config`` (the engine's own copy) in place.

    Values and spans are replaced first, by the paths the maskers saw; then the
    marked object keys, deepest first, each by its placeholder (made unique in
    its object). The manifest's paths are those of the masked config: a path
    through a masked key names the key's placeholder.
    """
    found: list[tuple[Path, dict[str, Any]]] = []
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
        found.append(
            (
                path,
                {
                    "rule": mark.rule,
                    "fingerprint": fingerprint,
                    "encoding": encoding,
                    "restore": mark.restore,
                },
            )
        )

    for path, span_marks in marks.spans.items():
        if any(path[:n] in masked_paths for n in range(1, len(path) + 1)):
            continue
        value = _existing(config, path, span_marks[0].rule)
        if not isinstance(value, str):
            raise MaskingError(
                f"masker rule {span_marks[0].rule!r} marked a span in a non-string at "
                f"{where(config, path)}"
            )
        new_value, span_fields = _mask_spans(value, path, span_marks, key, secrets, config)
        set_at(config, path, new_value)
        found.extend((path, field) for field in span_fields)

    renamed = _mask_keys(marks, config, key, masked_paths, secrets, found)

    references = tuple(
        sorted(
            (
                attrs.evolve(ref, path=to_pointer(_renamed(path, renamed))) if renamed else ref
                for path, refs in marks.references.items()
                if not any(path[:n] in masked_paths for n in range(1, len(path) + 1))
                for ref in refs.values()
            ),
            key=lambda ref: (ref.path, ref.kind, ref.name),
        )
    )
    fields = [
        MaskedField(path=to_pointer(_renamed(path, renamed)), **values) for path, values in found
    ]
    fields.sort(key=lambda f: (f.path, f.span or (0, 0)))
    manifest = Manifest(
        fields=tuple(fields), references=references, adapter=adapter, maskers=maskers
    )
    return MaskOutcome(config=config, manifest=manifest, secrets=tuple(secrets))


def _mask_keys(
    marks: Marks,
    config: Any,
    key: bytes,
    masked_paths: set[Path],
    secrets: list[str],
    found: list[tuple[Path, dict[str, Any]]],
) -> dict[Path, str]:
    """Replace the marked object keys, deepest first; returns old path -> new key."""
    renamed: dict[Path, str] = {}
    for path in sorted(marks.keys, key=len, reverse=True):
        if any(path[:n] in masked_paths for n in range(1, len(path))):
            continue  # inside a value masked whole: gone already
        mark = marks.keys[path]
        parent = _existing(config, path[:-1], mark.rule)
        old = path[-1]
        if not isinstance(parent, dict) or old not in parent:
            raise MaskingError(
                f"masker rule {mark.rule!r} marked a key that is not in the config, "
                f"at {where(config, path[:-1])}"
            )
        assert isinstance(old, str)
        fingerprint = _fingerprint(key, old.encode("utf-8"))
        new = base = placeholder(fingerprint)
        count = 1
        while new in parent:
            count += 1
            new = f"{base}#{count}"
        # Rebuild the object so that the key keeps its place.
        items = [(new if k == old else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
        renamed[path] = new
        secrets.append(old)
        found.append(
            (
                path,
                {
                    "rule": mark.rule,
                    "fingerprint": fingerprint,
                    "encoding": KEY_ENCODING,
                    "restore": mark.restore,
                },
            )
        )
    return renamed


def _renamed(path: Path, renamed: Mapping[Path, str]) -> Path:
    """``path`` (in the config the maskers saw) in the masked config."""
    if not renamed:
        return path
    return tuple(renamed.get(path[: n + 1], token) for n, token in enumerate(path))


def where(config: Any, path: Path) -> str:
    """Where ``path`` is, for an error message, without quoting the config.

    Object keys are request content (a key can be a secret): each is given by its
    position in its object (``@2`` is the third key); list indices as they are.
    """
    out: list[str] = []
    node = config
    for token in path:
        if isinstance(node, dict):
            position = next((n for n, k in enumerate(node) if k == token), None)
            out.append("@?" if position is None else f"@{position}")
            node = node.get(token) if isinstance(token, str) else None
        elif isinstance(node, list) and isinstance(token, int):
            out.append(str(token))
            node = node[token] if 0 <= token < len(node) else None
        else:
            out.append("@?" if isinstance(token, str) else str(token))
            node = None
    return "/" + "/".join(out) if out else "/"


def reference_spans(
    syntax: Sequence[tuple[str, re.Pattern[str]]], text: str
) -> list[tuple[int, int, str, str]]:
    """``(start, end, kind, name)`` of each declared reference in ``text``.

    The name is the pattern's group ``name`` when it has one, else the whole match.
    """
    out: list[tuple[int, int, str, str]] = []
    for kind, pattern in syntax:
        for match in pattern.finditer(text):
            if match.end() > match.start():
                name = match.group("name") if "name" in pattern.groupindex else match.group()
                out.append((match.start(), match.end(), kind, name or match.group()))
    return out


def _declared(syntax: Sequence[tuple[str, re.Pattern[str]]], text: str) -> bool:
    # The whole text is references and separators (no letter or digit besides).
    spans = reference_spans(syntax, text)
    if not spans:
        return False
    rest = list(text)
    for start, end, _, _ in spans:
        rest[start:end] = [" "] * (end - start)
    return not any(char.isalnum() for char in rest)


def _reference_paths(references: Sequence[SecretReference], config: Any) -> list[Path]:
    """The paths of the references a request declares (an adapter's), as tuples."""
    paths = []
    for ref in references:
        try:
            paths.append(tuple(parse_pointer(ref.path, config)))
        except (WfauditError, LookupError, TypeError, ValueError):
            continue  # a reference to nowhere protects nothing
    return paths


def _outside_references(
    syntax: Sequence[tuple[str, re.Pattern[str]]], config: Any, path: Path, start: int, end: int
) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` of the string at ``path`` outside declared references,
    that hold a letter or digit (a reference's separators are not secret)."""
    try:
        value = get_at(config, path)
    except (KeyError, IndexError, TypeError):
        return [(start, end)]
    if not isinstance(value, str):
        return [(start, end)]
    spans = sorted((a, b) for a, b, _, _ in reference_spans(syntax, value) if a < end and start < b)
    if not spans:
        return [(start, end)]
    pieces: list[tuple[int, int]] = []
    cursor = start
    for a, b in spans:
        if a > cursor:
            pieces.append((cursor, min(a, end)))
        cursor = max(cursor, b)
    if cursor < end:
        pieces.append((cursor, end))
    return [(a, b) for a, b in pieces if any(c.isalnum() for c in value[a:b])]


def _existing(config: Any, path: Path, rule: str) -> Any:
    try:
        return get_at(config, path)
    except (KeyError, IndexError, TypeError):
        raise MaskingError(
            f"masker rule {rule!r} marked a path that is not in the config "
            f"(it ends after {where(config, path)})"
        ) from None


def _mask_spans(
    value: str, path: Path, span_marks: list[_Mark], key: bytes, secrets: list[str], config: Any
) -> tuple[str, list[dict[str, Any]]]:
    # Merge overlapping or touching spans: the union is what must not be stored.
    ordered = sorted(span_marks, key=lambda m: m.span or (0, 0))
    merged: list[tuple[int, int, _Mark]] = []
    for mark in ordered:
        assert mark.span is not None
        start, end = mark.span
        if end > len(value):
            raise MaskingError(
                f"masker rule {mark.rule!r} gave a span past the end of the string at "
                f"{where(config, path)}"
            )
        if merged and start <= merged[-1][1]:
            prev_start, prev_end, prev_mark = merged[-1]
            merged[-1] = (prev_start, max(prev_end, end), prev_mark)
        else:
            merged.append((start, end, mark))

    pieces: list[str] = []
    fields: list[dict[str, Any]] = []
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
            {
                "rule": mark.rule,
                "fingerprint": fingerprint,
                "span": (out_len, out_len + len(token)),
                "restore": mark.restore,
            }
        )
        secrets.append(secret)
        out_len += len(token)
        cursor = end
    pieces.append(value[cursor:])
    return "".join(pieces), fields


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
