"""The one utility layer (``wfaudit_hookspecs.util``): the bounded LRU, the
``KEY=VALUE`` parser and ``fsync_directory`` that the engine and the plugins share."""

from __future__ import annotations

import ast
import pathlib
import threading

import pytest

from wfaudit_hookspecs import InvalidRequest, parse_bool
from wfaudit_hookspecs.util import LRU, fsync_directory, parse_key_value

ROOT = pathlib.Path(__file__).resolve().parent.parent

# -- LRU -----------------------------------------------------------------------------


def test_the_lru_forgets_the_least_recently_used_first() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2


def test_putting_a_key_again_replaces_it_and_makes_it_the_newest() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert cache.get("a") == 10 and cache.get("b") is None and len(cache) == 2


def test_the_lru_bounded_by_weight_keeps_at_least_the_newest_entry() -> None:
    cache: LRU[str, str] = LRU(max_weight=10)
    for name in "abcde":
        cache.put(name, name, weight=4)
    assert len(cache) == 2 and cache.weight == 8
    assert cache.get("e") == "e" and cache.get("d") == "d" and cache.get("c") is None
    cache.put("big", "big", weight=100)  # heavier than the bound: kept, alone
    assert len(cache) == 1 and cache.get("big") == "big" and cache.weight == 100


def test_replacing_an_entry_counts_its_weight_once() -> None:
    cache: LRU[str, str] = LRU(max_weight=10)
    cache.put("a", "1", weight=6)
    cache.put("a", "2", weight=6)
    assert len(cache) == 1 and cache.weight == 6


def test_an_lru_of_no_entries_keeps_nothing() -> None:
    cache: LRU[str, int] = LRU(0)
    cache.put("a", 1)
    assert len(cache) == 0 and cache.get("a") is None


def test_get_or_make_makes_a_missing_value_once() -> None:
    cache: LRU[str, list[int]] = LRU(4)
    made: list[str] = []

    def make() -> list[int]:
        made.append("x")
        return [1]

    first = cache.get_or_make("x", make)
    assert cache.get_or_make("x", make) is first and made == ["x"]


def test_discard_forgets_a_key_only_while_it_holds_the_value_given() -> None:
    cache: LRU[str, object] = LRU(4)
    old, new = object(), object()
    cache.put("k", new, weight=3)
    cache.discard("k", old)  # someone else replaced it meanwhile: kept
    assert cache.get("k") is new
    cache.discard("k", new)
    assert "k" not in cache and cache.weight == 0
    cache.put("j", old)
    cache.discard("j")
    cache.discard("missing")
    assert len(cache) == 0


def test_values_clear_and_repr() -> None:
    cache: LRU[str, str] = LRU(3)
    cache.put("a", "secret-a")
    cache.put("b", "secret-b")
    cache.get("a")
    assert cache.values() == ["secret-b", "secret-a"]
    assert "secret" not in repr(cache) and "items=2" in repr(cache)
    cache.clear()
    assert len(cache) == 0 and cache.weight == 0 and cache.values() == []


def test_negative_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_items"):
        LRU(-1)
    with pytest.raises(ValueError, match="max_weight"):
        LRU(max_weight=-1)


def test_the_lru_stays_bounded_and_consistent_under_threads() -> None:
    cache: LRU[int, int] = LRU(50, max_weight=120)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(2000):
                key = (n * 7 + offset) % 200
                cache.get_or_make(key, lambda key=key: key, weight=key % 3 + 1)  # type: ignore[misc]
                cache.discard((n + offset) % 200)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 50 and cache.weight <= 120
    assert all(cache.get(key) == key for key in range(200) if key in cache)


# -- KEY=VALUE -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("env=prod", ("env", "prod")),
        ("env=", ("env", "")),
        ("url=a=b", ("url", "a=b")),
        (" env =prod ", ("env", "prod ")),
    ],
)
def test_key_value(text: str, expected: tuple[str, str]) -> None:
    assert parse_key_value(text) == expected


def test_key_value_may_strip_the_value() -> None:
    assert parse_key_value(" env = prod ", strip_value=True) == ("env", "prod")


@pytest.mark.parametrize("text", ["env", "=prod", " =prod", ""])
def test_key_value_without_a_key_or_an_equals_sign_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^label filter .* is not KEY=VALUE$"):
        parse_key_value(text, what="label filter")
    with pytest.raises(InvalidRequest, match=r"^'.*' is not KEY=VALUE$"):
        parse_key_value(text)


def test_the_label_parsers_are_the_one_parser() -> None:
    from wfaudit.history import parse_labels
    from wfaudit_hookspecs.retention import parse_selector

    assert parse_labels(["a=1", " b = 2"]) == {"a": "1", "b": " 2"}
    assert parse_selector(" b = 2 ,a=1") == (("a", "1"), ("b", "2"))
    with pytest.raises(InvalidRequest, match="label filter 'x' is not KEY=VALUE"):
        parse_labels(["x"])
    with pytest.raises(InvalidRequest, match="'x' is not KEY=VALUE"):
        parse_selector("a=1,x")


# -- fsync_directory -----------------------------------------------------------------


def test_fsync_directory_syncs_a_directory_and_skips_what_it_cannot_open(
    tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "a").write_text("x")
    (tmp_path / "a").rename(tmp_path / "b")
    fsync_directory(tmp_path)
    fsync_directory(str(tmp_path))
    fsync_directory(tmp_path / "missing")  # no error: skipped


# -- one of each ---------------------------------------------------------------------


def test_the_booleans_have_one_parser() -> None:
    assert parse_bool("t", "X", default=False) is True
    assert parse_bool("", "X", default=True) is True


def _sources() -> list[pathlib.Path]:
    found = []
    for top in (ROOT / "wfaudit", ROOT / "hookspecs", ROOT / "plugins"):
        found += [
            path
            for path in top.rglob("*.py")
            # build/: setuptools' copies of the sources when a distribution is
            # installed from its directory (as .ci/run does), util.py among them.
            if not {"tests", ".venv", "build", ".tox"} & set(path.parts)
        ]
    return found


def test_no_module_writes_its_own_copy() -> None:
    """No hand-written LRU (``popitem(last=False)``) and no second ``fsync_directory``
    or ``KEY=VALUE`` split outside the utility module."""
    util = ROOT / "hookspecs" / "wfaudit_hookspecs" / "util.py"
    copies = []
    for path in _sources():
        if path == util:
            continue
        text = path.read_text(encoding="utf-8")
        if "popitem(last=False)" in text:
            copies.append(f"{path.relative_to(ROOT)}: an LRU")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and "fsync_dir" in node.name:
                copies.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert copies == []
