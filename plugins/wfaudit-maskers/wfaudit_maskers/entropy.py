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


_COMMON_BIGRAMS = frozenset(
    re.findall(
        r"[a-z]{2}",
        "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou "
        "io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ca el ta la ns di "
        "fo ho pe ec pr no ct us ac ot il tr ly nc et ut ss so rs un lo wa ge ie wh ee wi em "
        "ad ol rt po we na ul ni ts mo ow pa im mi ai sh ir su id os iv ia am fi ci vi pl ig "
        "tu ev ld ry mp fe bl ab gh ty op wo sa ay ex ke fr oo av ag if ap gr od bo sp rd do "
        "uc bu ei ov by rm ep tt oc fa ef cu rn sc gi da yo cr cl du ga qu ue ff ba ey ls va "
        "um pp ua up lu go ht ru ug ds lt pi rc rr eg au ck ew mu br bi pt ak pu ui rg ib tl "
        "ny ki rk ys ob mm fu ph og ms ye ud mb ip ub oi rl gu dr hr cc tw ft wn nu fl ew ks "
        "ku gn kn sk sl sm sn sw tc xt ",
    )
)
"""Letter pairs frequent in English words (and so in identifiers made of words)."""

_MIN_WORD_BIGRAMS = 0.65
"""The share of a word's letter pairs that are frequent: 0.8 to 1 in words, about
0.3 in random letters."""


def _wordlike(pieces: list[str]) -> bool:
    """Whether most letters of ``pieces`` are in words (``runtime``, ``Environment``,
    ``nocertdata``): their letter pairs are frequent ones; random runs of one case
    (``Ofhmhvzvfzqm``, ``IVCIAZCI``) are not."""
    letters = words = 0
    for piece in pieces:
        if not piece[0].isalpha():
            continue
        size = len(piece)
        letters += size
        if size < 3:
            continue
        lower = piece.lower()
        common = sum(lower[n : n + 2] in _COMMON_BIGRAMS for n in range(size - 1))
        if common >= _MIN_WORD_BIGRAMS * (size - 1):
            words += size
    return words * 3 >= letters * 2


def _sequential(text: str) -> bool:
    """``abcdefgh...12345``: a placeholder, not a random draw."""
    steps = sum(1 for a, b in itertools.pairwise(text) if ord(b) - ord(a) == 1)
    return steps * 2 > len(text)
