"""``wfaudit_hookspecs.views``: a masker that writes only its pattern finds it
plain, URL-encoded, base64-encoded and inside JSON strings."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Sequence

import pytest

from wfaudit import Auditor, hookimpl
from wfaudit.testing import MaskerConformance, Planted, url_encode
from wfaudit_hookspecs import MaskContext
from wfaudit_hookspecs.views import MAX_VIEW_CHARS, decoded_views, mask_pattern

TOKEN = "acme_" + "5f2b8c1d9e0a4b7c" * 2
PATTERN = r"acme_[0-9a-f]{32}"


class PatternOnly:
    """A masker of one line: the pattern."""

    @hookimpl
    def wfaudit_mask(self, context: MaskContext) -> None:
        mask_pattern(context, PATTERN, rule="acme.token")


class TestPatternOnlyMasker(MaskerConformance):
    @pytest.fixture
    def masker(self) -> object:
        return PatternOnly()

    @pytest.fixture
    def planted(self) -> Sequence[Planted]:
        return [
            Planted(config={"env": [{"name": "ACME", "value": TOKEN}]}, secrets=(TOKEN,)),
            Planted(config={"run": f"curl -H 'X-Acme: {TOKEN}' https://x"}, secrets=(TOKEN,)),
        ]


def _masked(config: dict[str, object], tmp_path: object) -> dict[str, object]:
    auditor = Auditor.from_url(
        "memory://", plugins=[PatternOnly()], load_entrypoints=False, strict=True
    )
    auditor.audit_trigger(workflow_id=1, workflow_type="CI", pipeline_id=1, config=config)
    snapshot = auditor.get_snapshot(1, "CI")
    rules = {field.path: field.rule for field in snapshot.manifest.fields}
    return {"config": snapshot.config, "rules": rules}


@pytest.mark.parametrize(
    ("value", "kept", "rule"),
    [
        (f"token={url_encode(TOKEN)}&page=2", ("token=", "&page=2"), "acme.token.url"),
        (
            "Basic " + base64.b64encode(f"ci:{TOKEN}".encode()).decode() + " end",
            ("Basic ", " end"),
            "acme.token.base64",
        ),
        (
            json.dumps({"auth": {"t": TOKEN.replace("_", "\\u005f")}}).replace("\\\\", "\\"),
            (),
            "acme.token.json",
        ),
        (f"plain {TOKEN} text", ("plain ", " text"), "acme.token"),
    ],
    ids=["url", "base64", "json-in-string", "plain"],
)
def test_each_view_is_masked_and_the_rest_kept(
    value: str, kept: tuple[str, ...], rule: str, tmp_path: object
) -> None:
    masked = _masked({"field": value}, tmp_path)
    text = masked["config"]["field"]  # type: ignore[index]
    assert TOKEN not in text and "[masked:" in text
    assert all(part in text for part in kept), text
    assert masked["rules"] == {"/field": rule}


def test_a_url_match_masks_only_the_text_it_came_from() -> None:
    value = "a=" + urllib.parse.quote("x y") + "&t=" + url_encode(TOKEN)
    (view,) = [v for v in decoded_views(value) if v.kind == "url"]
    start = view.text.index(TOKEN)
    assert view.original_span(start, start + len(TOKEN)) == (value.index("acme"), len(value))
    assert value[: view.original_span(start, start + len(TOKEN))[0]] == "a=x%20y&t="


def test_views_are_bounded() -> None:
    huge = "%41" * (MAX_VIEW_CHARS // 3 + 1)
    assert list(decoded_views(huge)) == []
    assert [v.kind for v in decoded_views("no encoding here")] == []
    # One level: base64 of base64 is not decoded twice.
    twice = base64.b64encode(base64.b64encode(TOKEN.encode())).decode()
    assert all(TOKEN not in v.text for v in decoded_views(twice))
