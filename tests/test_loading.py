"""Reading payload files: YAML aliases are expanded only within a bound."""

from __future__ import annotations

import pathlib

import pytest

from wfaudit.loading import MAX_EXPANDED_NODES, load_payload, parse_payload
from wfaudit_hookspecs import InvalidRequest

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus"
# Corpus files that give a key twice in one mapping: refused as written
# (wfaudit.loading: one of the two values would be silently lost).
DUPLICATE_KEYS = frozenset({"argo-workflows/k8s-patch-json-workflow.yaml"})


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
        if path.relative_to(CORPUS).as_posix() in DUPLICATE_KEYS:
            with pytest.raises(InvalidRequest, match=r"duplicate key at /@2/@3 \(line 13\)"):
                load_payload(str(path))
            continue
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

    from wfaudit.yaml_loading import _expanded_size, _Loader
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


# -- format by content, duplicate keys ------------------------------------------


@pytest.mark.parametrize("name", ["flow.yml", "flow.yaml", "flow.txt", "-"])
def test_flow_style_yaml_is_read_whatever_the_name(tmp_path: pathlib.Path, name: str) -> None:
    raw = b"{image: 'shop:1', steps: [build, test], retries: 2, on: {push: true}}\n"
    expected = {
        "image": "shop:1",
        "steps": ["build", "test"],
        "retries": 2,
        "on": {"push": True},
    }
    if name == "-":
        assert parse_payload(raw) == expected
        return
    path = tmp_path / name
    path.write_bytes(raw)
    assert load_payload(str(path)) == expected


def test_json_content_is_read_as_json_in_a_yaml_file(tmp_path: pathlib.Path) -> None:
    # YAML (1.1, PyYAML) would read 1e5 as a string: JSON content stays JSON.
    path = tmp_path / "payload.yml"
    path.write_bytes(b'{"n": 1e5, "ok": true, "none": null}')
    assert load_payload(str(path)) == {"n": 100000.0, "ok": True, "none": None}


def test_a_broken_file_gets_the_error_of_its_format(tmp_path: pathlib.Path) -> None:
    for name, raw, said in (
        ("bad.json", b'{"a": 1', "invalid JSON at line 1"),
        ("bad.json", b"a: 1\n", "invalid JSON at line 1"),  # a .json file is JSON
        ("bad.yml", b"{a: 1", "invalid YAML at line 1"),
        ("bad.txt", b'{"a": 1', "invalid JSON at line 1"),
    ):
        path = tmp_path / name
        path.write_bytes(raw)
        with pytest.raises(InvalidRequest, match=said):
            load_payload(str(path))


SECRET_KEY = "ghp_Zx81Secret0key0Xq"


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"a": 1, "a": 2}', "/@1:"),
        (b'{"a": 1, "b": {"x": 1, "y": 2, "x": 3}}', "/@1/@2:"),
        (b'[{"a": 1}, {"b": 1, "a": 1, "a": 2}]', "/1/@2:"),
        (f'{{"env": {{"{SECRET_KEY}": "v1", "{SECRET_KEY}": "v2"}}}}'.encode(), "/@0/@1:"),
        (b"a: 1\na: 2\n", "/@1 (line 2)"),
        (b"a: 1\nb:\n  - x: 1\n    y: 2\n    x: 3\n", "/@1/0/@2 (line 5)"),
        (b"{a: 1, b: 2, a: 3}", "/@2 (line 1)"),
        (b"1: one\n'1': uno\n", "/@1 (line 2)"),  # the same key once read as a string
        (b"true: yes\n'true': no\n", "/@1 (line 2)"),
        (f"env:\n  {SECRET_KEY}: v1\n  {SECRET_KEY}: v2\n".encode(), "/@0/@1 (line 3)"),
        (b"--- {a: 1}\n--- {b: 1, b: 2}\n", "/@1 (line 2)"),
    ],
)
def test_a_key_given_twice_is_refused_by_position(raw: bytes, where: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_payload(raw, source="payload.yml")
    message = str(caught.value)
    assert f"duplicate key at {where}" in message
    for text in (SECRET_KEY, "v1", "v2", "uno"):
        assert text not in message  # keys and values are never quoted


def test_a_merged_key_may_be_given_again() -> None:
    data = parse_payload(b"base: &base {image: a, size: 1}\njob:\n  <<: *base\n  size: 2\n")
    assert data == {"base": {"image": "a", "size": 1}, "job": {"image": "a", "size": 2}}


def test_a_key_in_an_aliased_mapping_is_checked_once() -> None:
    with pytest.raises(InvalidRequest, match=r"duplicate key at /@0/@1 \(line 1\)"):
        parse_payload(b"a: &x {k: 1, k: 2}\nb: *x\nc: *x\n")


def test_libyaml_and_the_python_parser_build_the_same_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """libyaml parses when PyYAML has it; corpus files and tricky cases
    (YAML 1.1 booleans, dates, merges, odd keys, a refused document) gives the same
    value or the same error without it."""
    from wfaudit import yaml_loading

    if yaml_loading._FastLoader is None:
        pytest.skip("PyYAML was built without libyaml")
    texts = [
        "on: yes\nb: 2020-01-01\nc: 0o17\nd: 1_000\ne: off\nf: True",
        "base: &b {x: 1}\nd:\n  <<: *b\n  x: 2",
        "1: a\n1.5: b\nnull: c\ntrue: d\n? [1, 2]\n: e",
        "a: 1\na: 2\n",
        "k: [1, 2",
        "{a: 1",
        "a: " + "[" * 3000 + "]" * 3000,
        "x: !!python/object:os.system 1",
        "--- a\n--- b\n",
    ]
    if CORPUS.is_dir():
        texts += [
            p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(CORPUS.rglob("*"))[::5]  # a fifth: the Python parser is slow
            if p.is_file() and p.suffix in {".yaml", ".yml"}
        ]

    def outcome(text: str) -> tuple[str, object]:
        try:
            return "value", yaml_loading.parse_yaml(text, "f.yaml")
        except InvalidRequest as error:
            return "error", str(error)

    fast = [outcome(text) for text in texts]
    monkeypatch.setattr(yaml_loading, "_FastLoader", None)
    assert [outcome(text) for text in texts] == fast
    assert fast[0] == (
        "value",
        {"on": "yes", "b": "2020-01-01", "c": "0o17", "d": 1000, "e": "off", "f": True},
    )
