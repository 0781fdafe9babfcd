"""Key names: tokenising them in any naming style, and classifying them once.

A config's key names recur from request to request (a few hundred names across
every pipeline), so :class:`NameClassifier` classifies each distinct name once
and keeps the result; the walk then only looks the name up.

Classification reads a name as English compound words are read: the *last*
keyword decides, and the words after it say whether the name holds the secret
(``dbPassword``, ``DB_PASSWORD_PROD``), describes it (``passwordFile``,
``token_expiry_seconds``) or refers to it (``secretName``, ``tokenEnv``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import vocabulary as vocab
from .fold import fold_name

__all__ = ["Keyword", "NameClass", "NameClassifier", "compact", "tokenize"]

# Upper-case runs (acronyms: the "AWS" of "AWSSecret"), capitalised or lower-case
# words, digits glued to the word before them ("oauth2", "s3"); anything else
# (``_ - . / space``, non-ASCII) separates words.
_WORD = re.compile(r"[A-Z]+(?![a-z])[0-9]*|[A-Z]?[a-z]+[0-9]*|[0-9]+")
_DIGITS = "0123456789"
_MAX_CACHE = 8192
"""Distinct names kept; a config keyed by data (commit SHAs, file paths) must not
grow the cache without bound."""


def tokenize(name: str) -> tuple[str, ...]:
    """Split a key name into lower-case words, whatever its naming style.

    >>> tokenize("AWSSecretAccessKey"), tokenize("db-password"), tokenize("DB_PASSWORD")
    (('aws', 'secret', 'access', 'key'), ('db', 'password'), ('db', 'password'))
    """
    return tuple(word.lower() for word in _WORD.findall(name))


def compact(name: str) -> str:
    """The words of a name joined: ``db_password`` -> ``dbpassword``."""
    return "".join(tokenize(name))


@dataclass(frozen=True, slots=True)
class Keyword:
    """A secret keyword, in compact form, and how strictly it must be placed."""

    compact: str
    words: int
    weak: bool = False
    """Secret only as the last word of a name."""
    needs_prefix: bool = False
    """Secret only after another word (``DB_PWD``, not ``PWD``)."""

    @property
    def glues(self) -> bool:
        """Whether the keyword is recognised inside a glued word (``dbpassword``).

        Short and weak keywords are not: ``author``, ``bypass`` and ``concert`` are
        not secrets.
        """
        return len(self.compact) >= 5 and not self.weak and not self.needs_prefix


@dataclass(frozen=True, slots=True)
class NameClass:
    """What a key name says about the value it holds. Computed once per name."""

    name: str
    known: bool = False
    """A known secret field (rule ``known-field``)."""
    known_parents: frozenset[str] | None = None
    """For a known field valid only under some parent keys (kubeconfig ``user.token``)."""
    keyword: bool = False
    """Holds a secret by its keyword (rule ``keyword``)."""
    secret_object: bool = False
    """Names a secret *object* (``accessKeySecret``, ``imagePullSecrets``): an
    ``{name, key}`` value there is a Kubernetes secret selector."""
    reference_kind: str | None = None
    """Holds a reference to a secret, of this kind (``secretName`` -> ``k8s-secret``)."""
    allowed: bool = False
    """Listed in ``allow_keys`` (or allowed by default): never masked."""
    env_block: bool = False
    """Names an object or list of environment variables (``env``, ``extraEnvironmentVariables``)."""
    secretless_block: bool = False
    """Names an object whose entries are never secret (``permissions``)."""
    value_slot: bool = False
    """``value`` of a ``{name, value}`` pair: its sibling's name decides."""
    secret_payload: bool = False
    """``data`` / ``stringData``: all secret when the object is ``kind: Secret``."""
    secret: bool = False
    """``known or keyword``: the name alone marks its value as secret (a field, not
    a property, because the walk asks it for every ``{name, value}`` pair)."""
    checksum: bool = False
    """Names a checksum, digest or revision (``sha256``, ``integrity``, ``commitHash``):
    its random-looking value is not a secret, so the entropy rule leaves it."""


def _keyword_table(
    strong: Iterable[str], weak: Iterable[str], prefixed: Iterable[str]
) -> dict[str, Keyword]:
    table: dict[str, Keyword] = {}

    def add(phrase: str, *, weak: bool = False, needs_prefix: bool = False) -> None:
        words = tokenize(phrase)
        if not words:
            return
        joined = "".join(words)
        table[joined] = Keyword(joined, len(words), weak=weak, needs_prefix=needs_prefix)
        # Plurals hold the same things (``tokens``, ``apiKeys``), except the short
        # prefixed words whose plurals mean something else (``passes``).
        if not joined.endswith("s") and not needs_prefix:
            table[joined + "s"] = Keyword(joined + "s", len(words), weak=weak)

    for phrase in prefixed:
        add(phrase, weak=True, needs_prefix=True)
    for phrase in weak:
        add(phrase, weak=True)
    for phrase in strong:  # last: a user's extra keyword overrides a weak default
        add(phrase)
    return table


class NameClassifier:
    """Classifies key names against the keyword and known-field vocabulary.

    :param extra_keywords: more strong keywords (``"pin"``, ``"signing salt"``).
    :param extra_fields: more known fields, matched anywhere.
    :param allow_keys: names never masked (compared in compact form).

    Instances are safe to share between threads: the cache only ever gains
    complete entries, and a lost race only classifies a name twice.
    """

    def __init__(
        self,
        *,
        extra_keywords: Iterable[str] = (),
        extra_fields: Iterable[str] = (),
        allow_keys: Iterable[str] = (),
    ) -> None:
        self._keywords = _keyword_table(
            (*vocab.STRONG_KEYWORDS, *extra_keywords),
            vocab.WEAK_KEYWORDS,
            vocab.PREFIXED_KEYWORDS,
        )
        self._span = max(kw.words for kw in self._keywords.values())
        # Longest first, so that "clientsecret" is found before "secret".
        self._glued = sorted(
            (kw.compact for kw in self._keywords.values() if kw.glues), key=len, reverse=True
        )
        self._any_glued = re.compile("|".join(map(re.escape, self._glued)) or "(?!)")
        known: dict[str, frozenset[str] | None] = {
            compact(field): parents for field, parents in vocab.KNOWN_FIELDS.items()
        }
        known.update((compact(field), None) for field in extra_fields)
        known.pop("", None)
        self._known: Mapping[str, frozenset[str] | None] = known
        self._allowed = frozenset(compact(n) for n in (*vocab.ALLOWED_NAMES, *allow_keys))
        self._env_endings = frozenset(compact(ending) for ending in vocab.ENV_BLOCKS)
        self._qualifiers = (
            vocab.METADATA_QUALIFIERS | vocab.REFERENCE_QUALIFIERS.keys() | vocab.NEUTRAL_SUFFIXES
        )
        self._phrases = (
            *vocab.STRONG_KEYWORDS,
            *extra_keywords,
            *vocab.WEAK_KEYWORDS,
            *vocab.PREFIXED_KEYWORDS,
            *vocab.KNOWN_FIELDS,
            *extra_fields,
        )
        self._cache: dict[str, NameClass] = {}

    def needles(self) -> tuple[str, ...]:
        """Lower-case substrings one of which every secret name contains.

        The string scanner looks for these to find assignments (``DB_PASSWORD=...``)
        inside longer strings without reading every word: a name is secret by one
        of the phrases (keywords, known fields), and each of a phrase's words
        appears in the lower-cased name whatever its naming style.
        """
        chosen = list(vocab.NAME_NEEDLES)
        for phrase in self._phrases:
            words = tokenize(phrase)
            if words and not any(needle in word for word in words for needle in chosen):
                chosen.append(max(words, key=len))
        return tuple(chosen)

    def classify(self, name: str) -> NameClass:
        """Return the class of a key name (cached)."""
        found = self._cache.get(name)
        if found is None:
            found = self._classify(name)
            if len(self._cache) >= _MAX_CACHE:
                self._cache.clear()
            self._cache[name] = found
        return found

    # -- the classification ---------------------------------------------------------

    def _classify(self, name: str) -> NameClass:
        tokens = tokenize(fold_name(name))  # a password with a Cyrillic "a" (U+0430) is a password
        joined = "".join(tokens)
        if joined in self._allowed:
            return NameClass(name, allowed=True, env_block=self._env_block(tokens))
        known, parents = self._known_field(tokens)
        keyword, secret_object, reference_kind = self._keyword(tokens)
        return NameClass(
            name,
            known=known,
            known_parents=parents,
            keyword=keyword,
            secret_object=secret_object,
            reference_kind=reference_kind,
            env_block=self._env_block(tokens),
            secretless_block=joined in vocab.SECRETLESS_BLOCKS,
            value_slot=joined in vocab.VALUE_SLOTS,
            secret_payload=joined in vocab.SECRET_PAYLOADS,
            secret=known or keyword,
            checksum=not (known or keyword) and bool(vocab.CHECKSUM_WORDS.intersection(tokens)),
        )

    def _env_block(self, tokens: tuple[str, ...]) -> bool:
        if "".join(tokens) in vocab.ENV_BLOCK_NAMES:
            return True
        # The last one to three words, at a word boundary: "extraEnvironmentVariables".
        return any("".join(tokens[-n:]) in self._env_endings for n in (1, 2, 3) if n <= len(tokens))

    def _known_field(self, tokens: tuple[str, ...]) -> tuple[bool, frozenset[str] | None]:
        # A known field matches at a word boundary at the end of the name:
        # "s3AccessKey" is an access key, "accessKeyId" is not.
        for start in range(len(tokens)):
            suffix = "".join(tokens[start:])
            if suffix in self._known:
                return True, self._known[suffix]
        return False, None

    def _words(self, tokens: tuple[str, ...]) -> list[str]:
        """The words keywords are matched against: glued words split, digits and
        trailing neutral words dropped."""
        words: list[str] = []
        for token in tokens:
            word = token.rstrip(_DIGITS)
            if word:
                words.extend(self._unglue(word))
        while words and words[-1] in vocab.NEUTRAL_SUFFIXES:
            words.pop()
        return words

    def _unglue(self, word: str) -> list[str]:
        # "dbpassword", "secretname", "githubtoken": a keyword inside a word counts
        # only when nothing or a known qualifier follows it, which keeps
        # "passwordless", "tokenizer" and "secretary" whole (and not secret).
        if word in self._keywords or word in self._qualifiers:
            return [word]
        if self._any_glued.search(word) is None:
            return [word]  # most words hold no keyword: one search instead of one per keyword
        for keyword in self._glued:
            at = word.find(keyword)
            if at < 0:
                continue
            rest = word[at + len(keyword) :]
            if rest and rest not in self._qualifiers:
                continue
            return [part for part in (word[:at], keyword, rest) if part]
        return [word]

    def _keyword(self, tokens: tuple[str, ...]) -> tuple[bool, bool, str | None]:
        """Return (holds a secret, names a secret object, reference kind)."""
        words = self._words(tokens)
        for end in range(len(words) - 1, -1, -1):
            # The longest keyword ending here: "secret key" before "key".
            for start in range(max(0, end - self._span + 1), end + 1):
                keyword = self._keywords.get("".join(words[start : end + 1]))
                if keyword is not None:
                    return self._judge(keyword, words[:start], words[end + 1 :])
        return False, False, None

    @staticmethod
    def _judge(
        keyword: Keyword, before: list[str], after: list[str]
    ) -> tuple[bool, bool, str | None]:
        is_secret_word = keyword.compact in ("secret", "secrets")
        for word in after:
            family = vocab.REFERENCE_QUALIFIERS.get(word)
            if family == "env":
                return False, False, "env"
            if family == "ref" or (family == "name" and is_secret_word):
                return False, False, "k8s-secret"
            if family is not None or word in vocab.METADATA_QUALIFIERS:
                return False, False, None
        if after and keyword.weak:
            return False, False, None
        if keyword.needs_prefix and (not before or before[-1] in vocab.NO_PREFIX):
            return False, False, None
        if vocab.REFERENCE_PREFIXES.intersection(before):
            return False, False, "k8s-secret" if is_secret_word else None
        return True, is_secret_word, None
