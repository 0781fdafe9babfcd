"""Applying masks: the engine's half of the mask stage."""

from __future__ import annotations

import pytest

from wfaudit.masking import Marks, apply_marks, placeholder
from wfaudit_hookspecs import MaskingError, RestoreRef, TriggerRequest, check_json

KEY = b"k" * 32


def _marks(config: object) -> Marks:
    request = TriggerRequest(workflow_id=1, workflow_type="CI", pipeline_id=1, config=config)
    return Marks(request, config, {})


def test_whole_values_are_replaced_by_fingerprinted_placeholders() -> None:
    config = check_json({"a": {"password": "s3cret-value"}, "n": 1234, "obj": {"k": [1, 2]}})
    marks = _marks(config)
    marks.mask(("a", "password"), rule="keyword", restore=RestoreRef(kind="env", target="PW"))
    marks.mask(("n",), rule="keyword")
    marks.mask(("obj",), rule="known-field")
    marks.mask(("obj", "k", 0), rule="inner")  # covered by the masked parent
    out = apply_marks(marks, config, KEY, adapter=None, maskers=("m",))
    fields = {f.path: f for f in out.manifest.fields}
    assert set(fields) == {"/a/password", "/n", "/obj"}
    assert out.config["a"]["password"] == placeholder(fields["/a/password"].fingerprint)
    assert fields["/a/password"].encoding == "text"
    assert fields["/a/password"].restore == RestoreRef(kind="env", target="PW")
    assert fields["/n"].encoding == "json"
    assert fields["/obj"].encoding == "json"
    assert "s3cret" not in repr(out)
    assert out.manifest.maskers == ("m",)


def test_equal_secrets_have_equal_fingerprints_and_the_key_matters() -> None:
    def fingerprint(secret: str, key: bytes) -> str:
        config = check_json({"p": secret})
        marks = _marks(config)
        marks.mask(("p",), rule="r")
        return (
            apply_marks(marks, config, key, adapter=None, maskers=()).manifest.fields[0].fingerprint
        )

    assert fingerprint("abc", KEY) == fingerprint("abc", KEY)
    assert fingerprint("abc", KEY) != fingerprint("abd", KEY)
    assert fingerprint("abc", KEY) != fingerprint("abc", b"x" * 32)


def test_spans_are_replaced_and_recorded_in_masked_coordinates() -> None:
    text = "postgres://app:pa55word@db:5432/x?token=tok123"
    config = check_json({"url": text})
    marks = _marks(config)
    marks.mask(("url",), rule="url-password", span=(15, 23))
    marks.mask(("url",), rule="query-token", span=(40, 46))
    out = apply_marks(marks, config, KEY, adapter=None, maskers=())
    masked = out.config["url"]
    assert "pa55word" not in masked and "tok123" not in masked
    assert masked.startswith("postgres://app:[masked:") and "@db:5432/x?token=[masked:" in masked
    for field in out.manifest.fields:
        start, end = field.span  # type: ignore[misc]
        assert masked[start:end] == placeholder(field.fingerprint)


def test_overlapping_spans_are_merged() -> None:
    config = check_json({"s": "abcdefghij"})
    marks = _marks(config)
    marks.mask(("s",), rule="a", span=(2, 5))
    marks.mask(("s",), rule="b", span=(4, 8))
    out = apply_marks(marks, config, KEY, adapter=None, maskers=())
    assert len(out.manifest.fields) == 1
    assert out.config["s"].startswith("ab[masked:") and out.config["s"].endswith("]ij")


def test_whole_mark_wins_over_spans_and_references_inside_masked_values_are_dropped() -> None:
    config = check_json({"s": "abcdef", "o": {"ref": "${{ secrets.X }}"}})
    marks = _marks(config)
    marks.mask(("s",), rule="span", span=(1, 3))
    marks.mask(("s",), rule="whole")
    marks.mask(("o",), rule="whole")
    marks.reference(("o", "ref"), kind="github-secret", name="X")
    out = apply_marks(marks, config, KEY, adapter=None, maskers=())
    assert [f.rule for f in out.manifest.fields] == ["whole", "whole"]
    assert out.manifest.references == ()


def test_references_are_listed() -> None:
    config = check_json({"env": {"NPM_TOKEN": "${{ secrets.NPM_TOKEN }}"}})
    marks = _marks(config)
    marks.reference(("env", "NPM_TOKEN"), kind="github-secret", name="NPM_TOKEN", rule="keyword")
    out = apply_marks(marks, config, KEY, adapter=None, maskers=())
    assert out.config == {"env": {"NPM_TOKEN": "${{ secrets.NPM_TOKEN }}"}}
    (ref,) = out.manifest.references
    assert (ref.path, ref.kind, ref.name) == ("/env/NPM_TOKEN", "github-secret", "NPM_TOKEN")


@pytest.mark.parametrize(
    ("path", "span", "message"),
    [
        (("missing",), None, "not in the config"),
        (("s",), (3, 99), "past the end"),
        (("n",), (0, 1), "non-string"),
        ((), None, "whole config"),
        (("s",), (4, 2), "invalid span"),
    ],
)
def test_bad_marks_are_masking_errors(
    path: tuple[str, ...], span: tuple[int, int] | None, message: str
) -> None:
    config = check_json({"s": "abcdef", "n": 5})
    marks = _marks(config)

    def mark_and_apply() -> None:
        marks.mask(path, rule="r", span=span)
        apply_marks(marks, config, KEY, adapter=None, maskers=())

    with pytest.raises(MaskingError, match=message):
        mark_and_apply()


def test_is_masked_covers_children() -> None:
    marks = _marks({"a": {"b": 1}})
    marks.mask(("a",), rule="r")
    assert marks.is_masked(("a", "b"))
    assert not marks.is_masked(("c",))


def test_one_string_can_reference_several_secrets() -> None:
    config = check_json({"run": "echo ${{ secrets.A || secrets.B }}"})
    marks = _marks(config)
    marks.reference(("run",), kind="github-secret", name="B")
    marks.reference(("run",), kind="github-secret", name="A")
    marks.reference(("run",), kind="github-secret", name="A")
    out = apply_marks(marks, config, KEY, adapter=None, maskers=())
    assert [(r.path, r.name) for r in out.manifest.references] == [("/run", "A"), ("/run", "B")]
