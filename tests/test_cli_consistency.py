"""Small inconsistencies a newcomer met on the command line (issue 21, item 10),
each checked as a user meets it: ``wfaudit`` run as a real process."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from tests.test_cli import one_line_error
from wfaudit import Auditor

BOTH = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: a}
spec: {entrypoint: main, templates: [{name: main, container: {image: alpine}}]}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: b}
spec: {pipelineRef: {name: p}}
"""


def run(
    *args: str, store: str | None = None, cwd: pathlib.Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    full_env = dict(os.environ)
    full_env.pop("WFAUDIT_LOAD_PLUGINS", None)
    full_env.pop("WFAUDIT_DISABLE_PLUGINS", None)
    if store:
        full_env["WFAUDIT_STORE_URL"] = store
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store with two CI snapshots of pipeline p1 (one step added in the second)."""
    monkeypatch.delenv("WFAUDIT_LOAD_PLUGINS", raising=False)
    with Auditor.from_url(store_url, strict=True) as auditor:
        for n, steps in enumerate((["build"], ["build", "test"]), start=1):
            result = auditor.audit_trigger(
                workflow_id=f"run-{n}",
                workflow_type="CI",
                pipeline_id="p1",
                config={"steps": [{"name": s, "run": f"make {s}"} for s in steps]},
                triggered_by="ana",
            )
            assert result.ok, result.error
    return store_url


def test_wfaudit_alone_prints_the_help_and_exits_0(tmp_path: pathlib.Path) -> None:
    shown = ok(run(cwd=tmp_path))
    assert shown.startswith("Usage: wfaudit") and "Commands:" in shown and "trigger" in shown


def test_annotate_takes_by_as_every_command_does(store: str, tmp_path: pathlib.Path) -> None:
    helped = ok(run("annotate", "--help", cwd=tmp_path))
    assert "--by TEXT" in helped and "--author" not in helped  # the old name is hidden
    assert "by ana" in ok(
        run("annotate", "run-1:CI", "first", "--by", "ana", store=store, cwd=tmp_path)
    )
    # The old name still works, and WFAUDIT_AUTHOR stands in for --by.
    assert "by bo" in ok(
        run("annotate", "run-1:CI", "x", "--author", "bo", store=store, cwd=tmp_path)
    )
    by_env = run(
        "annotate", "run-2:CI", "y", store=store, cwd=tmp_path, env={"WFAUDIT_AUTHOR": "cy"}
    )
    assert "by cy" in ok(by_env)
    missing = run("annotate", "run-2:CI", "z", store=store, cwd=tmp_path)
    assert missing.returncode == 2 and "--by" in missing.stderr


def test_counts_are_in_proper_plurals(store: str, tmp_path: pathlib.Path) -> None:
    ok(run("annotate", "run-2:CI", "one note", "--by", "ana", store=store, cwd=tmp_path))
    diffed = ok(run("diff", "run-1:CI", "run-2:CI", store=store, cwd=tmp_path))
    assert "1 change: 1 step added" in diffed
    logged = ok(run("log", store=store, cwd=tmp_path, env={"COLUMNS": "250"}))
    assert "[1 note]" in logged
    verified = ok(run("verify", store=store, cwd=tmp_path))
    assert "2 snapshots" in verified and "1 chain," in verified
    for output in (diffed, logged, verified):
        assert "(s)" not in output


def test_plugins_with_an_unknown_hook_is_an_error(tmp_path: pathlib.Path) -> None:
    line = one_line_error(run("plugins", "--hook", "wfaudit_masks", cwd=tmp_path))
    assert "no hook 'wfaudit_masks'" in line and "wfaudit_mask," in line
    listed = ok(run("plugins", "--hook", "wfaudit_mask", "--json", cwd=tmp_path))
    assert all("wfaudit_mask" in plugin["hooks"] for plugin in json.loads(listed))


def test_an_unknown_plugin_name_in_the_environment_is_warned_of(tmp_path: pathlib.Path) -> None:
    for variable in ("WFAUDIT_DISABLE_PLUGINS", "WFAUDIT_LOAD_PLUGINS"):
        result = run("plugins", cwd=tmp_path, env={variable: "sql,maskres"})
        assert result.returncode == 0, result.stderr
        assert f"{variable} names 'maskres', which is no installed plugin" in result.stderr
        assert "maskers" in result.stderr  # the names there are
        assert result.stderr.count("maskres") == 1  # once, not once per plugin manager
    quiet = run("plugins", cwd=tmp_path, env={"WFAUDIT_DISABLE_PLUGINS": "webhooks"})
    assert quiet.stderr == ""


def test_the_ambiguous_payload_error_names_the_option(
    store_url: str, tmp_path: pathlib.Path
) -> None:
    both = tmp_path / "both.yaml"
    both.write_text(BOTH)
    args = ["trigger", str(both), "--type", "PRE_CD", "--workflow-id", "w1", "--pipeline-id", "p"]
    line = one_line_error(run(*args, store=store_url, cwd=tmp_path))
    assert "choose one with --format" in line
    assert "new snapshot" in ok(run(*args, "--format", "argo", store=store_url, cwd=tmp_path))


def test_status_repeated_without_a_reason_keeps_it(store: str, tmp_path: pathlib.Path) -> None:
    def reason() -> str | None:
        shown = json.loads(ok(run("show", "run-1:CI", "--json", store=store, cwd=tmp_path)))
        value: str | None = shown["status_reason"]
        return value

    ok(
        run(
            "status",
            "run-1",
            "failed",
            "--type",
            "CI",
            "--reason",
            "3 tests failed",
            store=store,
            cwd=tmp_path,
        )
    )
    ok(run("status", "run-1", "failed", "--type", "CI", store=store, cwd=tmp_path))
    assert reason() == "3 tests failed"
    ok(
        run(
            "status",
            "run-1",
            "failed",
            "--type",
            "CI",
            "--reason",
            "OOM",
            store=store,
            cwd=tmp_path,
        )
    )
    assert reason() == "OOM"
    ok(run("status", "run-1", "succeeded", "--type", "CI", store=store, cwd=tmp_path))
    assert reason() is None  # a new status starts afresh


def test_retention_plan_says_when_no_policy_is_configured(
    store: str, tmp_path: pathlib.Path
) -> None:
    planned = ok(run("retention", "plan", store=store, cwd=tmp_path))
    assert planned.startswith("no retention policy is configured")
    data = json.loads(ok(run("retention", "plan", "--json", store=store, cwd=tmp_path)))
    assert data["policy_configured"] is False
    (tmp_path / "wfaudit.toml").write_text('[retention]\nsucceeded = "7d"\n')
    configured = ok(run("retention", "plan", store=store, cwd=tmp_path))
    assert "no retention policy" not in configured
    data = json.loads(ok(run("retention", "plan", "--json", store=store, cwd=tmp_path)))
    assert data["policy_configured"] is True


def test_an_empty_store_says_how_to_fill_it(store_url: str, tmp_path: pathlib.Path) -> None:
    Auditor.from_url(store_url).close()  # the store exists, and is empty
    logged = ok(run("log", store=store_url, cwd=tmp_path))
    assert logged.startswith("no snapshot in this store yet: `wfaudit trigger FILE")
    filtered = ok(run("log", "--pipeline", "nope", store=store_url, cwd=tmp_path))
    assert filtered.strip() == "no snapshot matches these filters"
    assert json.loads(ok(run("log", "--json", store=store_url, cwd=tmp_path))) == []
    tagged = ok(run("tags", store=store_url, cwd=tmp_path))
    assert tagged.startswith("no tag yet: `wfaudit tag REF NAME`")
