"""Reading payload files: YAML aliases are expanded only within a bound."""

from __future__ import annotations

import pathlib

import pytest

from wfaudit.loading import MAX_EXPANDED_NODES, load_payload, parse_payload
from wfaudit_hookspecs import InvalidRequest

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus"


def laughs(levels: int, width: int = 9) -> bytes:
    """The "billion laughs" document: each level lists the one before ``width`` times."""
    lines = ["l0: &l0 [lol, lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join(f"*l{level - 1}" for _ in range(width))
        lines.append(f"l{level}: &l{level} [{refs}]")
    return ("\n".join(lines) + "\n").encode()


def test_a_billion_laughs_is_refused_before_it_is_built() -> None:
    with pytest.raises(InvalidRequest, match=r"expands to more than 1,000,000 nodes"):
        parse_payload(laughs(9))


def test_aliases_within_the_bound_are_expanded() -> None:
    data = parse_payload(laughs(3, width=3))
    assert len(data["l3"]) == 3
    assert data["l3"][0] == [[["lol", "lol"]] * 3] * 3
    assert data["l3"][2][1][0] == ["lol", "lol"]


def test_the_bound_counts_expanded_nodes_not_bytes() -> None:
    # 5 levels of 14 copies: 14**5 * 3 nodes ~ 1.6 million, in about 400 bytes.
    source = laughs(5, width=14)
    assert len(source) < 500
    with pytest.raises(InvalidRequest):
        parse_payload(source)
    parse_payload(laughs(4, width=14))  # 14**4 * 3 ~ 115,000 nodes: fine


def test_merge_keys_and_a_recursive_alias_still_load() -> None:
    data = parse_payload(b"base: &base {image: alpine, cpu: 1}\njob:\n  <<: *base\n  cpu: 2\n")
    assert data["job"] == {"image": "alpine", "cpu": 2}
    looped = parse_payload(b"&a [1, *a]\n")
    assert looped[1] is looped


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside the checkout")
def test_every_corpus_file_is_far_below_the_bound() -> None:
    files = [p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml", ".json"}]
    assert files
    for path in files:
        load_payload(str(path))
    assert MAX_EXPANDED_NODES >= 1_000_000


def test_aliases_to_long_values_are_bounded_by_bytes_not_only_nodes() -> None:
    """About 1 MiB of YAML, a few thousand nodes, but 300 MB once expanded."""
    value = "x" * 100_000
    source = f"big: &big {value}\nuses: [{', '.join(['*big'] * 3_000)}]\n".encode()
    assert len(source) < 1_100_000
    with pytest.raises(InvalidRequest, match=r"more than 16,777,216 bytes of JSON"):
        parse_payload(source)
    # Through a mapping (and a sequence of mappings) the same.
    nested = (
        f"m: &m {{a: {value}, b: {value}}}\n"
        f"s: &s [*m, *m, *m, *m]\nuses: [{', '.join(['*s'] * 30)}]\n"
    ).encode()
    with pytest.raises(InvalidRequest, match="bytes of JSON"):
        parse_payload(nested)
    # Below the bound, the same shape loads.
    data = parse_payload(f"big: &big {value}\nuses: [{', '.join(['*big'] * 100)}]\n".encode())
    assert len(data["uses"]) == 100 and data["uses"][99] == value


def test_the_byte_bound_is_never_below_the_canonical_json() -> None:
    """The bound is an upper estimate of the snapshot's canonical JSON."""
    import yaml

    from wfaudit.loading import _expanded_size, _Loader
    from wfaudit_hookspecs import canonical_json

    samples = [
        "a: &a {k: 'é\"\\\\\\n', n: 12, f: 1.5, t: true, z: null}\nb: [*a, *a, [*a]]\n",
        "on: push\njobs: {build: {steps: [{run: make}, {uses: x/y@v1, with: {k: '1'}}]}}\n",
        "- &x [1, 2, {deep: [a, b, c]}]\n- *x\n- {k: *x, '3': 4}\n",
    ]
    files = (
        [p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml"}]
        if CORPUS.is_dir()
        else []
    )
    texts = samples + [p.read_text(encoding="utf-8-sig") for p in sorted(files)[::16]]
    for text in texts:
        for node in yaml.compose_all(text, Loader=_Loader):
            if node is None:
                continue
            _, bound = _expanded_size(node, 10**9, 10**12)
            value = _Loader(text).construct_document(node)
            assert bound >= len(canonical_json(value)), text[:60]
