"""The "Keys" section of docs/secrets.md and the secret states of docs/retrigger.md
run and hold: each command of the section runs, and the states are the code's."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

from wfaudit import Auditor, TriggerRequest, retrigger
from wfaudit.keys import KeyMismatch

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def section(page: str, title: str) -> str:
    text = (DOCS / page).read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_keys_commands_run(tmp_path: pathlib.Path) -> None:
    block = section("secrets.md", "Keys").split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert [c.split()[:3] for c in commands] == [
        ["wfaudit", "keys", "show"],
        ["wfaudit", "keys", "export"],
        ["wfaudit", "keys", "import"],
        ["wfaudit", "keys", "rotate"],
    ]
    environment = {
        **os.environ,
        "WFAUDIT_HOME": str(tmp_path / "home"),
        "WFAUDIT_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "WFAUDIT_LOAD_PLUGINS": "sql",
    }
    # The section is about an installation's existing store.
    for command in ["wfaudit db upgrade", *commands]:
        argv = shlex.split(command.replace("/secure/keys.txt", str(tmp_path / "keys.txt")))
        result = subprocess.run(
            [sys.executable, "-m", "wfaudit", *argv[1:]],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (command, result.stderr)


def test_the_documented_error_is_the_codes() -> None:
    shown = section("secrets.md", "Keys").split("```text\n", 1)[1].split("```", 1)[0]
    error = str(KeyMismatch("postgresql://ci@db/wfaudit", "93d1e0", "5f0c9b"))
    start = shown.split("Error: ", 1)[1].split("5f0c9b", 1)[0]
    assert error.startswith(start)
    assert "WFAUDIT_FINGERPRINT_KEY" in error and "wfaudit keys import" in error


def test_the_documented_states_are_the_codes() -> None:
    text = section("retrigger.md", "Checking the restored secrets")
    documented = re.findall(r"^\| `(\w+)` \|", text, flags=re.MULTILINE)
    code = [retrigger.MATCHING, retrigger.ROTATED, retrigger.UNVERIFIED]
    code += [retrigger.INVALID, retrigger.MISSING]
    assert documented == code


def test_the_documented_request_document_is_the_codes(tmp_path: pathlib.Path) -> None:
    """The request document of docs/retrigger.md has the code's keys, and its
    ``format`` is a payload format the installed adapters declare."""
    shown = section("retrigger.md", "`wfaudit retrigger`").split("```json\n", 1)[1]
    document = json.loads(shown.split("```", 1)[0])
    request = TriggerRequest(workflow_id="1", workflow_type="CI", pipeline_id="7", config={})
    assert list(document) == list(retrigger.request_document(request, "1"))
    with Auditor.from_url(f"sqlite:///{tmp_path / 'store.db'}") as auditor:
        assert document["format"] in auditor.plugin_manager.payload_formats
