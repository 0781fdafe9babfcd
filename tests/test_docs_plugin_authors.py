"""The runnable blocks of docs/plugin-authors.md run as written: the configured
pattern (pyproject.toml, then the shell lines, with a token from the environment)
and the smallest plugin (loaded with ``--plugins-dir``)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

from wfaudit.testing import find_secrets, url_encode

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGE = DOCS / "plugin-authors.md"
TOKEN = "acme_" + "7c1d5f2b8e0a4b9c" * 2
PREAMBLE = 'wfaudit() { "$WFAUDIT_DOCS_PYTHON" -m wfaudit "$@"; }\nset -e\n'


def block(marker: str, language: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    return text.split(f"<!-- {marker} -->\n```{language}\n", 1)[1].split("```", 1)[0]


def _env(tmp_path: pathlib.Path) -> dict[str, str]:
    env = {
        **os.environ,
        "WFAUDIT_DOCS_PYTHON": sys.executable,
        "WFAUDIT_HOME": str(tmp_path / "home"),
        "WFAUDIT_STORE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "TOKEN": TOKEN,
        "TOKEN_URL": url_encode(TOKEN),
    }
    env.pop("WFAUDIT_PLUGINS_DIR", None)
    return env


def test_the_configured_pattern_masks_the_token_plain_and_encoded(tmp_path: pathlib.Path) -> None:
    (tmp_path / "pyproject.toml").write_text(block("configured-pattern", "toml"), encoding="utf-8")
    script = PREAMBLE + block("configured-pattern-run", "sh")
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pattern:acme-token" in done.stdout and "encoded:url" in done.stdout, done.stdout
    assert done.stdout.count("[masked:") >= 2
    assert not find_secrets({"token": TOKEN}, texts=[("output", done.stdout + done.stderr)])


def test_without_the_pattern_the_token_is_kept(tmp_path: pathlib.Path) -> None:
    """The test above can fail: the token is no secret to the maskers without it."""
    script = PREAMBLE + block("configured-pattern-run", "sh")
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pattern:acme-token" not in done.stdout
    assert TOKEN in done.stdout, done.stdout


def test_the_smallest_plugin_loads_from_its_folder_and_masks(tmp_path: pathlib.Path) -> None:
    section = PAGE.read_text(encoding="utf-8").split("## The smallest plugin\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    pyproject = section.split("```toml\n", 1)[1].split("```", 1)[0]
    module = section.split("```python\n", 1)[1].split("```", 1)[0]
    folder = tmp_path / "wfaudit-acme-masker"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    (folder / "wfaudit_acme_masker.py").write_text(module, encoding="utf-8")
    (tmp_path / "run.json").write_text(
        json.dumps({"note": f"token {TOKEN}", "url": f"https://x/?t={url_encode(TOKEN)}"}),
        encoding="utf-8",
    )
    env = {**_env(tmp_path), "WFAUDIT_LOAD_PLUGINS": "sql,wfaudit_acme_masker"}  # it alone masks
    script = PREAMBLE + (
        "cd wfaudit-acme-masker\n"
        "wfaudit --plugins-dir . plugins --hook wfaudit_mask\n"
        "cd ..\n"
        "wfaudit --plugins-dir wfaudit-acme-masker trigger run.json --type CI"
        " --workflow-id 1 --pipeline-id 7\n"
        "wfaudit show 1:CI\n"
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "wfaudit_acme_masker" in done.stdout and "implementation" in done.stdout
    assert "acme.token.url" in done.stdout, done.stdout
    assert not find_secrets({"token": TOKEN}, texts=[("output", done.stdout + done.stderr)])


def _protocol_members() -> set[str]:
    """``Protocol.member`` for every member of every store protocol."""
    from wfaudit_hookspecs import (
        KeyedTrail,
        Store,
        StoreHistory,
        StoreMaintenance,
        StoreMeta,
        StoreProxy,
        StoreSchema,
    )
    from wfaudit_hookspecs.retention import ArchiveStore, RetentionWork, StoreRetention

    found = set()
    for protocol in (
        Store,
        StoreMeta,
        StoreMaintenance,
        StoreSchema,
        KeyedTrail,
        StoreProxy,
        StoreHistory,
        StoreRetention,
        RetentionWork,
        ArchiveStore,
    ):
        names = getattr(protocol, "__protocol_attrs__", None)
        if names is None:  # Python before 3.12
            import typing

            names = typing._get_protocol_attrs(protocol)  # type: ignore[attr-defined]
        found.update(f"{protocol.__name__}.{name}" for name in names)
    return found


def test_the_page_lists_the_complete_store_contract() -> None:
    section = PAGE.read_text(encoding="utf-8").split("## The complete store contract\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(\w+\.\w+)` \|", section, flags=re.MULTILINE))
    members = _protocol_members()
    assert len(members) > 50, "the store protocols could not be introspected"
    missing = sorted(members - listed)
    assert not missing, f"docs/plugin-authors.md does not list {', '.join(missing)}"
    stale = sorted(listed - members)
    assert not stale, f"docs/plugin-authors.md lists {', '.join(stale)}, no protocol member"
