# ruff: noqa: RUF001, RUF002 - a table of look-alike letters, on purpose
"""Homoglyphs: letters that look like ASCII letters, read as those letters.

``pаssword`` written with a Cyrillic ``а`` is still a password to the eye, and
to whoever wrote it to slip past a scanner. Key names and the strings the
scanner reads are folded before they are judged: Cyrillic and Greek look-alikes,
fullwidth and mathematical letters become their ASCII letter. Folding maps one
character to one character, so offsets found in a folded string hold in the
original.
"""

from __future__ import annotations

import unicodedata

__all__ = ["FOLD", "fold", "fold_name"]

_LOOKALIKES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",
    "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g",
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "К": "K", "М": "M", "Н": "H", "О": "O",
    "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J",
    "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W", "Һ": "H", "Ӏ": "I",
    # Greek
    "α": "a", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "ν": "v", "κ": "k", "ι": "i",
    "ε": "e", "χ": "x", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I",
    "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Latin look-alikes
    "ı": "i", "ℓ": "l", "ſ": "s",
}  # fmt: skip


def _table() -> dict[int, str]:
    table = {ord(k): v for k, v in _LOOKALIKES.items()}
    # Fullwidth and mathematical letters and digits: their compatibility form,
    # when it is one ASCII character.
    for start, end in ((0xFF01, 0xFF5F), (0x1D400, 0x1D7FF), (0x2460, 0x24FF)):
        for code in range(start, end):
            plain = unicodedata.normalize("NFKC", chr(code))
            if len(plain) == 1 and plain.isascii() and plain.isalnum():
                table[code] = plain
    return table


FOLD: dict[int, str] = _table()
"""``str.translate`` table: one look-alike character to one ASCII character."""

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))


def fold(text: str) -> str:
    """``text`` with look-alike letters folded to ASCII (same length, same offsets)."""
    return text if text.isascii() else text.translate(FOLD)


def fold_name(name: str) -> str:
    """A key name folded for classification: look-alikes folded, invisible characters
    (zero-width spaces, soft hyphens) dropped."""
    if name.isascii():
        return name
    return name.translate(_INVISIBLE).translate(FOLD)
