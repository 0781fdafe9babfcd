"""``wfaudit log``, ``diff``, ``show``, ``tag``, ``untag``, ``annotate``: real processes
on real stores, with the installed plugins (maskers included)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.test_cli import ok, one_line_error, wfaudit
from wfaudit import Auditor
from wfaudit.testing import find_secrets

OLD_SECRET = "hist-S3cret-Passw0rd-1111"
NEW_SECRET = "hist-S3cret-Passw0rd-2222"
ESC = "\x1b["


def request(version: int, password: str = OLD_SECRET) -> dict[str, Any]:
    steps = [{"name": n, "script": f"make {n}"} for n in ("build", "test", "push")]
    data: dict[str, Any] = {
        "pipelineName": "ci-7",
        "dockerRegistry": "registry.example.org",
        "dockerPassword": password,
        "env": {"LOG_LEVEL": "info"},
        "steps": steps,
    }
    if version >= 1:
        data["env"]["LOG_LEVEL"] = "debug"
        data["steps"][1]["script"] = "make test\nmake coverage"
    if version >= 2:
        data["steps"].insert(0, data["steps"].pop(2))
    return data


@pytest.fixture
def store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store holding pipeline 7's history: v0, v1, v2, then v2 with a new secret."""
    monkeypatch.delenv("WFAUDIT_LOAD_PLUGINS", raising=False)
    with Auditor.from_url(store_url, strict=True) as auditor:
        for number, (version, password) in enumerate(
            [(0, OLD_SECRET), (1, OLD_SECRET), (2, OLD_SECRET), (2, NEW_SECRET)], start=1
        ):
            result = auditor.audit_trigger(
                workflow_id=f"run-{number}",
                workflow_type="CI",
                pipeline_id=7,
                config=request(version, password),
                triggered_by="ana",
                labels={"env": "prod" if number % 2 else "dev"},
            )
            assert result.ok and result.masked >= 1, result.error
    return store_url


def no_secret(*outputs: str) -> None:
    texts = [(f"output {i}", text) for i, text in enumerate(outputs)]
    assert not find_secrets([OLD_SECRET, NEW_SECRET], texts=texts)


def test_diff_unified_side_by_side_colour_and_json(store: str) -> None:
    plain = ok(wfaudit("diff", "run-1:CI", "run-2:CI", store=store))
    assert ESC not in plain
    assert plain.splitlines()[0].startswith("--- a ")
    assert plain.splitlines()[1].startswith("+++ b ")
    assert "2 changes: 1 step modified, variables" in plain
    assert "~ /env/LOG_LEVEL\n    - info\n    + debug" in plain
    # A multi-line script is diffed line by line.
    assert "    +make coverage" in plain

    coloured = ok(wfaudit("diff", "run-1:CI", "run-2:CI", "--color", "always", store=store))
    assert ESC in coloured and "debug" in coloured

    side = ok(wfaudit("diff", "HEAD~3", "--pipeline", "7", "--view", "side-by-side", store=store))
    assert "before" in side and "after" in side and "/env/LOG_LEVEL" in side

    moved = json.loads(
        ok(wfaudit("diff", "HEAD~2", "HEAD~1", "--pipeline", "7", "--json", store=store))
    )
    assert [(c["op"], c["path"], c["from_path"]) for c in moved["changes"]] == [
        ("moved", "/steps/0", "/steps/2")
    ]
    assert moved["summary"]["steps_moved"] == 1
    no_secret(plain, coloured, side, json.dumps(moved))


def test_a_secret_only_change_says_so_without_a_byte_of_it(store: str) -> None:
    outputs = [
        ok(wfaudit("diff", "HEAD~1", "HEAD", "--pipeline", "7", *extra, store=store))
        for extra in ([], ["--color", "always"], ["--view", "side-by-side", "--full"])
    ]
    data = json.loads(ok(wfaudit("diff", "run-3:CI", "run-4:CI", "--json", store=store)))
    assert [(c["path"], c["secret"]) for c in data["changes"]] == [("/dockerPassword", "changed")]
    assert data["summary"]["secrets_changed"] is True
    assert "~ /dockerPassword  secret changed" in outputs[0]
    assert "secret changed" in outputs[1] and "secret changed" in outputs[2]
    log = ok(wfaudit("log", "--pipeline", "7", "--limit", "1", store=store))
    assert "secrets" in log
    no_secret(*outputs, json.dumps(data), log)


def test_log_filters_paging_and_json(store: str) -> None:
    entries = json.loads(ok(wfaudit("log", "--pipeline", "7", "--json", store=store)))
    assert [e["workflow_id"] for e in entries] == ["run-4", "run-3", "run-2", "run-1"]
    assert [e["changed"] for e in entries] == [
        "secrets",
        "1 step moved",
        "1 step modified, variables",
        "first snapshot",
    ]
    assert entries[0]["previous"] == entries[1]["id"] and entries[0]["tags"] == []

    page = ok(wfaudit("log", "--pipeline", "7", "--limit", "2", store=store))
    assert f"--before {entries[1]['id']}" in page
    second = json.loads(
        ok(
            wfaudit(
                "log",
                "--pipeline",
                "7",
                "--limit",
                "2",
                "--before",
                entries[1]["id"],
                "--json",
                store=store,
            )
        )
    )
    assert [e["workflow_id"] for e in second] == ["run-2", "run-1"]

    prod = json.loads(
        ok(wfaudit("log", "--label", "env=prod", "--since", "1h", "--json", store=store))
    )
    assert [e["workflow_id"] for e in prod] == ["run-3", "run-1"]
    assert json.loads(ok(wfaudit("log", "--until", "2000-01-01", "--json", store=store))) == []
    one_line_error(wfaudit("log", "--since", "last week", store=store), "not a time")
    one_line_error(wfaudit("log", "--label", "env", store=store), "KEY=VALUE")


def test_tag_annotate_show_untag(store: str) -> None:
    assert "as baseline" in ok(wfaudit("tag", "run-2:CI", "baseline", "--by", "ana", store=store))
    one_line_error(wfaudit("tag", "HEAD", "baseline", "--pipeline", "7", store=store), "--move")
    moved = ok(wfaudit("tag", "HEAD~1", "baseline", "--pipeline", "7", "--move", store=store))
    assert moved.startswith("moved tag baseline from ")
    note = json.loads(
        ok(
            wfaudit(
                "annotate",
                "baseline",
                "steps reordered here",
                "--path",
                "/steps/0",
                "--json",
                store=store,
                env={"WFAUDIT_AUTHOR": "bob"},
            )
        )
    )
    assert (note["author"], note["path"]) == ("bob", "/steps/0")

    shown = json.loads(ok(wfaudit("show", "baseline", "--json", store=store)))
    assert shown["workflow_id"] == "run-3" and shown["tags"] == ["baseline"]
    assert [n["note"] for n in shown["annotations"]] == ["steps reordered here"]
    human = ok(wfaudit("show", "baseline", store=store))
    assert "tags: baseline" in human and "steps reordered here" in human
    log = json.loads(ok(wfaudit("log", "--pipeline", "7", "--json", store=store)))
    assert [e["tags"] for e in log] == [[], ["baseline"], [], []]
    assert "baseline" in ok(wfaudit("tags", store=store))

    diff = json.loads(ok(wfaudit("diff", "baseline~2", "baseline", "--json", store=store)))
    assert diff["b"]["workflow_id"] == "run-3" and diff["a"]["workflow_id"] == "run-1"

    assert "removed tag baseline" in ok(wfaudit("untag", "baseline", store=store))
    one_line_error(wfaudit("show", "baseline", store=store), "no snapshot 'baseline'")
    one_line_error(wfaudit("diff", "HEAD~1", "HEAD", store=store), "--pipeline")
    one_line_error(
        wfaudit("annotate", "run-1:CI", "x", "--author", "a", "--path", "/nope", store=store),
        "not a path",
    )
    no_secret(human, json.dumps(shown))


def test_show_keeps_workflow_id_and_type(store: str) -> None:
    shown = json.loads(ok(wfaudit("show", "run-1", "--type", "CI", "--json", store=store)))
    assert shown["workflow_id"] == "run-1" and shown["tags"] == []


def test_a_secret_inside_a_changed_string_shows_the_rest_masked(store: str) -> None:
    """The URL's path changed with its password: the views say ``secret changed``
    and show the rest of the change, with placeholders for the secrets."""
    with Auditor.from_url(store, strict=True) as auditor:
        for number, (password, repo) in enumerate(
            [(OLD_SECRET, "app"), (NEW_SECRET, "api")], start=1
        ):
            url = f"https://ana:{password}@git.example.org/{repo}.git"
            result = auditor.audit_trigger(
                workflow_id=f"url-{number}",
                workflow_type="CI",
                pipeline_id=8,
                config={"repoUrl": url},
            )
            assert result.ok and result.masked == 1, result.error
    unified = ok(wfaudit("diff", "url-1:CI", "url-2:CI", store=store))
    lines = unified.splitlines()
    at = lines.index("~ /repoUrl  secret changed")
    assert lines[at + 1].startswith("    - https://ana:[masked:") and lines[at + 1].endswith(
        "/app.git"
    )
    assert lines[at + 2].startswith("    + https://ana:[masked:") and lines[at + 2].endswith(
        "/api.git"
    )
    side = ok(wfaudit("diff", "url-1:CI", "url-2:CI", "--view", "side-by-side", store=store))
    assert "secret changed" in side and "/app.git" in side and "/api.git" in side
    no_secret(unified, side)


def test_unknown_workflow_types_and_tags_are_told_plainly(store: str) -> None:
    for args in (
        ("log", "--type", "NOPE"),
        ("diff", "HEAD~1", "--pipeline", "7", "--type", "nope"),
    ):
        one_line_error(
            wfaudit(*args, store=store), "unknown workflow type 'NOPE'", "known types: CI"
        )
    assert "run-4" in ok(wfaudit("log", "--type", "ci", "--no-changes", store=store))
    line = one_line_error(wfaudit("untag", "zzz", store=store), "no tag 'zzz'", "wfaudit tags")
    assert "pipeline ''" not in line


# Secrets of the statuses test, sharing no substring of more than 2 characters.
ROTATED_FROM, ROTATED_TO, KEPT = "Fz6tQw1Lx8Hb", "Rk3nVm9Pc5Ys", "Ga7uJe2Dh0Tq"


def test_the_views_count_secrets_by_status_unchanged_included(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WFAUDIT_LOAD_PLUGINS", raising=False)
    with Auditor.from_url(store_url, strict=True) as auditor:
        for number, password in enumerate([ROTATED_FROM, ROTATED_TO, ROTATED_TO], start=1):
            config = {
                "pipelineName": "ci-11",
                "dockerPassword": password,
                "env": {"DB_PASSWORD": KEPT, "LOG_LEVEL": "info"},
            }
            result = auditor.audit_trigger(
                workflow_id=f"s-{number}", workflow_type="CI", pipeline_id=11, config=config
            )
            assert result.ok and result.masked == 2, result.error
    views = [
        ok(wfaudit("diff", "s-1:CI", "s-2:CI", *extra, store=store_url))
        for extra in ([], ["--view", "side-by-side"], ["--color", "always"])
    ]
    for view in views:
        assert "secrets: 1 changed, 1 unchanged" in view
    assert views[0].splitlines()[2:4] == ["1 change: secrets", "secrets: 1 changed, 1 unchanged"]
    data = json.loads(ok(wfaudit("diff", "s-1:CI", "s-2:CI", "--json", store=store_url)))
    assert data["secrets"] == {
        "changed": ["/dockerPassword"],
        "unchanged": ["/env/DB_PASSWORD"],
        "added": [],
        "removed": [],
        "counts": {"changed": 1, "unchanged": 1, "added": 0, "removed": 0},
    }
    same = ok(wfaudit("diff", "s-2:CI", "s-3:CI", store=store_url))
    assert same.splitlines()[2:] == [
        "identical configs (same content hash)",
        "secrets: 2 unchanged",
    ]
    same_json = json.loads(ok(wfaudit("diff", "s-2:CI", "s-3:CI", "--json", store=store_url)))
    assert same_json["secrets"]["counts"] == {
        "changed": 0,
        "unchanged": 2,
        "added": 0,
        "removed": 0,
    }
    log = ok(wfaudit("log", "--pipeline", "11", store=store_url))
    assert "no change" in log and "secrets" in log
    texts = [(f"output {i}", text) for i, text in enumerate([*views, same, log])]
    texts += [("json", json.dumps([data, same_json]))]
    assert not find_secrets([ROTATED_FROM, ROTATED_TO, KEPT], texts=texts)


def test_show_of_a_5_mb_payload_prints_it_plain_and_whole(store_url: str, tmp_path: Any) -> None:
    """#21 item 9: rich wrapping and highlighting a 5 MB document took 22 s; past the
    highlight limit the config is printed as plain indented JSON, whole (bench/ has
    no figure: the test only proves it completes and loses nothing)."""
    steps = [
        {"name": f"step-{i}", "script": "\n".join(f"echo line {j} of step {i}" for j in range(40))}
        for i in range(5_000)
    ]
    config = {"pipelineName": "huge", "steps": steps}
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(config))
    assert path.stat().st_size > 5_000_000
    ok(
        wfaudit(
            "trigger",
            str(path),
            "--type",
            "CI",
            "--workflow-id",
            "huge-1",
            "--pipeline-id",
            "9",
            "--format",
            "generic",
            "--strict",
            store=store_url,
        )
    )
    shown = ok(wfaudit("show", "huge-1:CI", store=store_url))
    heading, _, body = shown.partition("too long to highlight: printed plain below)\n")
    assert "masked config (" in heading and "workflow      CI huge-1" in heading
    assert json.loads(body) == config
    assert ESC not in shown
