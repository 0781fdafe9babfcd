"""High-entropy tokens: the last resort for secrets no pattern or name gives away.

A token is taken for a random secret only when it looks like one on every count
(see :func:`looks_random`). What a retrigger needs and what merely looks random
is kept: hexadecimal strings (commit SHAs, digests, checksums), UUIDs and ULIDs,
checksums with their algorithm prefix (``sha512-...``, ``h1:...``), paths and
URLs, dotted versions and host names, identifiers made of words
(``mingw-w64-ucrt-x86_64-zstd``, ``runtimeEnvironmentVariables``), and base64
whose content is readable text (the scanner decodes it before asking here).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter

__all__ = ["DEFAULT_MIN_LENGTH", "looks_random", "shannon"]

DEFAULT_MIN_LENGTH = 20
"""Shorter tokens carry too little evidence to be judged by their letters alone."""

_HEX = re.compile(r"[0-9a-fA-F]+")
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_CHECKSUM_PREFIX = re.compile(
    r"(?:sha1|sha224|sha256|sha384|sha512|sha3|md5|blake2b|blake3|crc32|h1)[-:_=]", re.IGNORECASE
)
_PARTS = re.compile(r"[-_.~]")
_MIN_PART = 16
"""The longest part of a random token (between ``-``, ``_``, ``.`` and ``~``)."""
_PATH_SEGMENT = 16
"""Base64 has a "/" once in 64 characters; paths have one every few."""
_DIGIT = re.compile(r"[0-9]")
_LOWER = re.compile(r"[a-z]")
_UPPER = re.compile(r"[A-Z]")
_PIECES = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_MAX_MEAN_PIECE = 3.1
"""Random text switches between upper case, lower case and digits every two or
three characters; names made of words switch every five or more."""


def shannon(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values())


def looks_random(token: str, min_length: int = DEFAULT_MIN_LENGTH) -> bool:
    """Whether ``token`` (no spaces) looks like a randomly generated secret."""
    core = token.rstrip("=")
    if len(core) < min_length or "%" in core or "//" in core:
        return False
    if core[0] in "./~" or _CHECKSUM_PREFIX.match(core):
        return False  # a path, or a checksum with its algorithm
    slashes = core.count("/")
    if slashes >= 2 and len(core) < _PATH_SEGMENT * slashes:
        return False  # a relative path: "/" every few characters, not once in 64
    # Identifiers and versions join short parts with - _ . ~; a random token has
    # one long part. Hexadecimal parts are ids and digests (a UUID is five of them).
    parts = [part for part in _PARTS.split(core) if part]
    if all(_HEX.fullmatch(part) for part in parts):
        return False
    longest = max(parts, key=len)
    # Judge the longest part; if it is short, judge the whole token with its
    # separators dropped (base64url has "-" and "_" at random), which the piece
    # test then holds to the standard of random text.
    body = longest if len(longest) >= _MIN_PART else "".join(parts)
    if _ULID.fullmatch(body) or _HEX.fullmatch(body):
        return False
    if _DIGIT.search(body) is None:
        return False
    has_lower = _LOWER.search(body) is not None
    has_upper = _UPPER.search(body) is not None
    size = len(body)
    if has_lower and has_upper:
        pieces = _PIECES.findall(body)
        if size / len(pieces) > _MAX_MEAN_PIECE and _wordlike(pieces):
            return False
        # The lower tail of random draws: 1 in 10,000 random alphanumeric tokens
        # of 16 to 64 characters falls below log2(size) - 1.05 bits.
        threshold = min(math.log2(size) - 1.1, 3.9)
    elif size >= 32 and len(parts) == 1 and not _sequential(body):
        # One case and digits (an Azure DevOps PAT): long, and one part only.
        threshold = min(math.log2(size) - 1.0, 4.2)
    else:
        return False
    return shannon(body) >= threshold


_VOWELS = frozenset("aeiouyAEIOUY")
_CONSONANT_RUN = re.compile(r"[b-df-hj-np-tv-xzB-DF-HJ-NP-TV-XZ]{4,}")


def _wordlike(pieces: list[str]) -> bool:
    """Whether most letters of ``pieces`` are in pronounceable words (``runtime``,
    ``Environment``, ``nocertdata``): same-case runs of random text
    (``Ofhmhvzvfzqm``) have few vowels, or consonants in clusters."""
    letters = words = 0
    for piece in pieces:
        if not piece[0].isalpha():
            continue
        size = len(piece)
        letters += size
        vowels = sum(c in _VOWELS for c in piece) / size
        if size >= _LONG_PIECE:
            # Words glued together: consonants meet at the joins, but vowels stay
            # frequent (about 2 letters in 5; 1 in 5 in random letters).
            if vowels >= 0.25:
                words += size
        elif size >= 3 and 0.25 <= vowels <= 0.6 and _CONSONANT_RUN.search(piece) is None:
            words += size
    return words * 3 >= letters * 2


_LONG_PIECE = 10


def _sequential(text: str) -> bool:
    """``abcdefgh...12345``: a placeholder, not a random draw."""
    steps = sum(1 for a, b in itertools.pairwise(text) if ord(b) - ord(a) == 1)
    return steps * 2 > len(text)
