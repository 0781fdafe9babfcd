"""The ``wfaudit`` command, run as a user runs it: a real process."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from wfaudit.demo import DEMO_SECRETS

SECRET = "cli-S3cret-Password-0042"


def wfaudit(
    *args: str,
    store: str | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    if store:
        full_env["WFAUDIT_STORE_URL"] = store
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=full_env,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def payload(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "request.json"
    path.write_text(
        json.dumps(
            {
                "pipelineName": "ci-7",
                "dockerPassword": SECRET,
                "env": {"LOG_LEVEL": "info", "DB_PASSWORD": SECRET + "-db"},
                "steps": [{"name": "test", "script": "make test"}],
            }
        )
    )
    return path


def trigger(store: str, path: pathlib.Path, workflow_id: str, *extra: str) -> dict[str, Any]:
    out = ok(
        wfaudit(
            "trigger",
            str(path),
            "--type",
            "CI",
            "--workflow-id",
            workflow_id,
            "--pipeline-id",
            "7",
            "--json",
            *extra,
            store=store,
        )
    )
    data: dict[str, Any] = json.loads(out)
    return data


def test_trigger_show_log_status_diff(
    store_url: str, payload: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    first = trigger(store_url, payload, "1001", "--triggered-by", "ana", "--label", "app=payments")
    assert first["ok"] and first["created"] and first["masked"] == 2

    again = trigger(store_url, payload, "1001", "--triggered-by", "ana", "--label", "app=payments")
    assert again["ok"] and not again["created"]

    shown = json.loads(ok(wfaudit("show", "1001", "--type", "CI", "--json", store=store_url)))
    assert shown["id"] == first["ref"]["id"]
    assert shown["labels"] == {"app": "payments"}
    assert shown["config"]["dockerPassword"].startswith("[masked:")
    assert {f["path"] for f in shown["manifest"]["fields"]} == {
        "/dockerPassword",
        "/env/DB_PASSWORD",
    }

    text = ok(wfaudit("show", "--id", first["ref"]["id"], store=store_url))
    assert "[masked:" in text and "Masked fields" in text and SECRET not in text

    second = tmp_path / "second.yaml"
    second.write_text(
        f"pipelineName: ci-7\ndockerPassword: {SECRET}-rotated\nenv:\n  LOG_LEVEL: debug\n  DB_PASSWORD: {SECRET}-db\nsteps:\n  - name: test\n    script: make test\n"
    )
    trigger(store_url, second, "1002")

    log = json.loads(ok(wfaudit("log", "--pipeline", "7", "--json", store=store_url)))
    assert [r["workflow_id"] for r in log] == ["1002", "1001"]
    assert "1001" in ok(wfaudit("log", store=store_url))

    status = json.loads(
        ok(
            wfaudit(
                "status",
                "1001",
                "failed",
                "--type",
                "CI",
                "--reason",
                "exit 1",
                "--json",
                store=store_url,
            )
        )
    )
    assert status["record"]["status"] == "failed"
    assert (
        json.loads(ok(wfaudit("log", "--status", "failed", "--json", store=store_url)))[0][
            "workflow_id"
        ]
        == "1001"
    )

    diff = json.loads(ok(wfaudit("diff", "1001:CI", "1002:CI", "--json", store=store_url)))
    changes = {c["path"]: c for c in diff["changes"]}
    assert changes["/dockerPassword"]["secret"] == "changed"
    assert changes["/env/LOG_LEVEL"]["new"] == "debug"
    human = ok(wfaudit("diff", first["ref"]["id"], "1002:CI", store=store_url))
    assert "secret changed" in human and SECRET not in human


def test_trigger_from_stdin_and_yaml_keeps_github_keys(store_url: str) -> None:
    workflow = "on:\n  push:\n    branches: [main]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    if: yes\n    timeout: 2024-01-01\n"
    result = wfaudit(
        "trigger",
        "-",
        "--type",
        "ci",
        "--workflow-id",
        "run-1",
        "--pipeline-id",
        "gh/acme/app",
        "--json",
        store=store_url,
        stdin=workflow,
    )
    assert json.loads(ok(result))["ok"]
    config = json.loads(
        ok(wfaudit("show", "run-1", "--type", "CI", "--config-only", store=store_url))
    )
    assert config["on"] == {"push": {"branches": ["main"]}}
    assert config["jobs"]["test"]["if"] == "yes"
    assert config["jobs"]["test"]["timeout"] == "2024-01-01"


def test_plugins_lists_the_entry_point_distributions() -> None:
    plugins = {p["name"]: p for p in json.loads(ok(wfaudit("plugins", "--json")))}
    assert plugins["sql"]["distribution"] == "wfaudit-sql"
    assert "wfaudit_open_store" in plugins["sql"]["hooks"]
    assert plugins["maskers"]["distribution"] == "wfaudit-maskers"
    assert "wfaudit_mask" in plugins["maskers"]["hooks"]
    assert not any(p["builtin"] for p in plugins.values())
    everything = json.loads(ok(wfaudit("plugins", "--all", "--json")))
    assert {"wfaudit.builtin.persist", "wfaudit.builtin.types"} <= {p["name"] for p in everything}
    masks = [
        p["name"] for p in json.loads(ok(wfaudit("plugins", "--hook", "wfaudit_mask", "--json")))
    ]
    assert "maskers" in masks and "sql" not in masks  # (a metrics wrapper may be listed too)


def test_hook_wfaudit_register_commands(tmp_path: pathlib.Path) -> None:
    store = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    out = ok(wfaudit("db", "upgrade", store=store))
    assert "head" in out or "0001" in out
    current = json.loads(ok(wfaudit("db", "current", "--json", store=store)))
    assert current["current"] == current["head"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            (
                "trigger",
                "/nonexistent/x.json",
                "--type",
                "CI",
                "--workflow-id",
                "1",
                "--pipeline-id",
                "1",
            ),
            ("cannot read /nonexistent/x.json",),
        ),
        (("show", "404", "--type", "CI"), ("no snapshot",)),
        (("show",), ("WORKFLOW_ID",)),
        (("diff", "nope", "1:CI"), ("no snapshot 'nope'",)),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: pathlib.Path, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    store = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    ok(wfaudit("db", "upgrade", store=store))  # an existing, empty store
    one_line_error(wfaudit(*args, store=store), *fragments)


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ('{"password": "' + SECRET + '", ', ("invalid JSON at line 1",)),
        ("a: [\n  password: " + SECRET + "\n", ("invalid YAML at line",)),
        ("", ("is empty",)),
        (
            "a: &a ['"
            + SECRET
            + "', '"
            + SECRET
            + "']\n"
            + "".join(
                f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                for p, n in zip("abcdefghi", "bcdefghij", strict=True)
            ),
            ("expands to more than 1,000,000 nodes",),
        ),
    ],
)
def test_invalid_payloads_are_one_clear_line_without_content(
    tmp_path: pathlib.Path, content: str, fragments: tuple[str, ...]
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    line = one_line_error(
        wfaudit(
            "trigger",
            str(path),
            "--type",
            "CI",
            "--workflow-id",
            "1",
            "--pipeline-id",
            "1",
            store=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        ),
        *fragments,
    )
    assert SECRET not in line


def test_unknown_type_bad_url_and_unreachable_database(
    tmp_path: pathlib.Path, payload: pathlib.Path
) -> None:
    args = ("trigger", str(payload), "--workflow-id", "1", "--pipeline-id", "1")
    one_line_error(
        wfaudit(*args, "--type", "NIGHTLY", store=f"sqlite:///{tmp_path / 'db.sqlite3'}"),
        "unknown workflow type 'NIGHTLY'",
        "CI, POST_CD, PRE_CD",
    )
    one_line_error(
        wfaudit(*args, "--type", "CI", store="ftp://example.org/x"),
        "no store plugin owns URLs of scheme 'ftp'",
    )
    down = "postgresql://wf:topsecretpw@127.0.0.1:1/test"
    line = one_line_error(
        wfaudit(*args, "--type", "CI", "--strict", store=down), "cannot reach the store"
    )
    assert "topsecretpw" not in line
    # Without --strict the audit is spooled (issue #18): exit 0, one line, no password.
    spooled = wfaudit(*args, "--type", "CI", store=down)
    assert spooled.returncode == 0 and spooled.stderr == ""
    assert spooled.stdout.startswith("spooled: ") and "topsecretpw" not in spooled.stdout


def test_demo_runs_and_leaks_nothing(tmp_path: pathlib.Path) -> None:
    """The demo runs on a throw-away store of its own: not the default store of
    WFAUDIT_HOME, nor WFAUDIT_STORE_URL's; it prints where it is."""
    home, mine = tmp_path / "home", tmp_path / "mine.sqlite3"
    env = {"WFAUDIT_HOME": str(home), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    first = wfaudit("demo", store=f"sqlite:///{mine}", env=env)
    out = ok(first)
    for heading in (
        "1. audit four triggers",
        "2. wfaudit log",
        "3. wfaudit show",
        "4. wfaudit diff",
        "5. no planted secret",
    ):
        assert heading in out
    assert "new snapshot" in out and "secret changed" in out and "none found" in out
    assert not home.exists() and not mine.exists(), "the demo touched the user's store"
    (throwaway,) = (tmp_path / "tmp").glob("wfaudit-demo-*")
    url = f"sqlite:///{throwaway / 'wfaudit.sqlite3'}"
    assert f"Look at it:  wfaudit --store {url} log" in out
    assert f"Remove it:   rm -r {throwaway}" in out
    # The printed command works, from another home; a second demo gets another store.
    listed = json.loads(ok(wfaudit("--store", url, "log", "--json", env=env)))
    assert sorted(r["workflow_id"] for r in listed) == ["1001", "1002", "2001", "3001"]
    ok(wfaudit("demo", env=env))
    assert len(list((tmp_path / "tmp").glob("wfaudit-demo-*"))) == 2
    # Given --store on the command line, the demo runs there (again: a no-op; with the
    # throw-away store's own key, which is in its directory).
    again = ok(wfaudit("demo", "--store", url, env={**env, "WFAUDIT_HOME": str(throwaway)}))
    assert "already audited (no-op)" in again and "Look at it" not in again
    database = b"".join(p.read_bytes() for p in throwaway.glob("wfaudit.sqlite3*"))
    for secret in DEMO_SECRETS:
        assert secret not in out + again + first.stderr
        assert secret.encode() not in database


def test_a_closed_pipe_ends_a_command_quietly(tmp_path: pathlib.Path) -> None:
    """`wfaudit log --json | head`: the reader leaves early; no error, no traceback."""
    import subprocess
    import sys

    script = (
        "import click\n"
        "from wfaudit import cli\n"
        "@cli.cli.command('flood')\n"
        "def flood():\n"
        "    for n in range(200_000):\n"
        "        click.echo(f'line {n} ' + 'x' * 60)\n"
        "cli.main()\n"
    )
    env = {**os.environ, "WFAUDIT_HOME": str(tmp_path)}
    with subprocess.Popen(
        [sys.executable, "-c", script, "flood"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith(b"line 0 ")
        process.stdout.close()
        errors = process.stderr.read().decode()
        code = process.wait(timeout=60)
    assert errors == "" and code == 0
