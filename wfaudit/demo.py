"""``wfaudit demo``: the main job, end to end, on a throw-away store.

It audits a CI, a pre-CD and a post-CD trigger (Devtron-style workflow requests
carrying fake secrets), then a second CI trigger of the same pipeline with a new
commit and a rotated registry password; lists them, shows one masked, diffs the
two CI triggers, and checks that no planted secret reached the store. It runs
on a new store in a temporary directory (:func:`throwaway_auditor`), so that it
never writes into the user's store: the ids it uses (workflow 1001, pipeline 7)
are those a newcomer's first real audits are likely to use. Run on a given
store, it is safe to repeat: the repeated audits are no-ops.
"""

from __future__ import annotations

import copy
import json
import pathlib
import shlex
import tempfile
from importlib import resources
from typing import Any

import attrs
from rich.console import Console
from rich.rule import Rule

from wfaudit_hookspecs import TriggerKind, TriggerRequest, WfauditError

from . import history, history_render, render, tables
from .auditor import Auditor
from .plugins import make_plugin_manager
from .settings import Settings

__all__ = ["DEMO_SECRETS", "demo_requests", "run_demo", "throwaway_auditor", "throwaway_hint"]

DEMO_SECRETS = (
    "ghp_demoDemoDemoDemoDemoDemoDemoDemo0001",
    "demo-docker-password-1",
    "demo-docker-password-2",
    "AKIADEMODEMODEMO0001",
    "demoSecretKey/DemoDemoDemoDemoDemoDemo0001",
    "MIIDemoCertificateDataForTheDemoOnly0001",
    "AKIADEMOBLOBSTORE0001",
    "demoBlobPasskey/DemoDemoDemoDemoDemo0001",
    "demo-db-password-1",
    "demo-sonar-token-0001",
    "demo-prod-db-password-1",
    "ZGVtby1henVyZS1hY2NvdW50LWtleS1mb3ItdGhlLWRlbW8tb25seQ==",
    "demo-slack-token-0001",
    "DEMOONLY",
    "demo-api-token-0001",
)
"""Every fake secret the demo requests carry."""


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("wfaudit.demo_data").joinpath(name).read_text("utf-8")
    )
    return data


def demo_requests() -> list[TriggerRequest]:
    """The four demo triggers, in the order they are audited."""
    ci, pre_cd, post_cd = _load("ci.json"), _load("pre_cd.json"), _load("post_cd.json")
    ci_again = copy.deepcopy(ci)
    ci_again["workflowId"] = 1002
    ci_again["workflowNamePrefix"] = "1002-ci-7-payments-api"
    ci_again["ciProjectDetails"][0]["commitHash"] = "8d1e5f0a2b3c4d5e6f708192a3b4c5d6e7f80912"
    ci_again["ciProjectDetails"][0]["message"] = "Bump the gateway client to 4.2"
    ci_again["dockerImageTag"] = "8d1e5f0a-1002"
    ci_again["dockerPassword"] = "demo-docker-password-2"  # the registry password was rotated
    ci_again["runtimeEnvironmentVariables"]["LOG_LEVEL"] = "debug"
    return [
        TriggerRequest(
            workflow_id=1001,
            workflow_type="CI",
            pipeline_id=7,
            config=ci,
            triggered_by="ana",
            trigger_kind=TriggerKind.WEBHOOK,
            labels={"app": "payments-api"},
        ),
        TriggerRequest(
            workflow_id=2001,
            workflow_type="PRE_CD",
            pipeline_id=9,
            config=pre_cd,
            triggered_by="ana",
            labels={"app": "payments-api", "environment": "production"},
        ),
        TriggerRequest(
            workflow_id=3001,
            workflow_type="POST_CD",
            pipeline_id=9,
            config=post_cd,
            triggered_by="ana",
            labels={"app": "payments-api", "environment": "production"},
        ),
        TriggerRequest(
            workflow_id=1002,
            workflow_type="CI",
            pipeline_id=7,
            config=ci_again,
            triggered_by="bruno",
            trigger_kind=TriggerKind.WEBHOOK,
            labels={"app": "payments-api"},
        ),
    ]


def throwaway_auditor(*, tenant: str | None = None) -> tuple[Auditor, pathlib.Path]:
    """An auditor on a new SQLite store in a new temporary directory, and that directory.

    The directory is the auditor's whole home: its store, its fingerprint key and
    its spool. Nothing is written anywhere else (not into the user's store, nor
    their key file or keyring). The directory is kept, so that the user can look
    at what the demo stored (:func:`throwaway_hint`).
    """
    home = pathlib.Path(tempfile.mkdtemp(prefix="wfaudit-demo-"))
    url = f"sqlite:///{home / 'wfaudit.sqlite3'}"
    settings = Settings.load(
        home=str(home),
        store_url=url,
        key_file=str(home / "fingerprint.key"),
        tenant=tenant,
        strict=False,
    )
    # A key kept in a keyring is the installation's: the demo makes its own.
    options = {k: v for k, v in settings.options.items() if k != "fingerprint_keyring"}
    settings = attrs.evolve(settings, options=options)
    pm = make_plugin_manager()
    store = pm.hooks.open_store(url, create=True)
    if store is None:
        raise WfauditError(f"no store plugin opens {url}: is wfaudit-sql installed?")
    return Auditor(store, pm, settings), home


def throwaway_hint(home: pathlib.Path) -> str:
    """How to look at (and remove) the demo's throw-away store in ``home``."""
    store = shlex.quote(f"sqlite:///{home / 'wfaudit.sqlite3'}")
    return (
        f"The demo's store is {store} (your own store was not touched).\n"
        f"Look at it:  wfaudit --store {store} log\n"
        f"             wfaudit --store {store} show 1001 --type CI\n"
        f"Remove it:   rm -r {shlex.quote(str(home))}"
    )


def run_demo(auditor: Auditor, console: Console) -> None:
    """Run the demo; raises :class:`WfauditError` if any step fails."""
    with auditor:
        console.print(Rule(f"1. audit four triggers into {auditor.store.url}"))
        requests = demo_requests()
        results = [(r.workflow_type, r.workflow_id, auditor.audit_trigger(r)) for r in requests]
        tables.emit(render.audit_rows(results), console=console)
        failed = [result for _, _, result in results if not result.ok]
        if failed:
            raise WfauditError(f"the demo audit failed: {failed[0].error}")

        # The same views as the commands named in each step print.
        console.print(Rule("2. wfaudit log"))
        entries = history.timeline(auditor, history.history_query(auditor, limit=10))
        tables.emit(history_render.timeline_rows(entries, show_pipeline=True), console=console)

        console.print(Rule("3. wfaudit show 1001:CI (secrets masked, fingerprinted)"))
        first = auditor.get_snapshot(1001, "CI")
        render.print_view(render.snapshot_view(first, first.config), console)

        console.print(Rule("4. wfaudit diff 1001:CI 1002:CI"))
        diff = auditor.diff(first, auditor.get_snapshot(1002, "CI"))
        for line in history_render.diff_header(diff):
            console.print(line)
        for line in history_render.unified_lines(diff):
            console.print(line)

        console.print(Rule("5. no planted secret reached the store"))
        leaks = [s for s in DEMO_SECRETS if _stored_anywhere(auditor, s)]
        if leaks:
            raise WfauditError(f"{len(leaks)} planted secrets were found in the store")
        console.print(
            f"checked {len(DEMO_SECRETS)} planted secrets against every stored snapshot: none found"
        )


def _stored_anywhere(auditor: Auditor, secret: str) -> bool:
    for record in auditor.history(limit=1000):
        snapshot = auditor.load(record)
        text = json.dumps(snapshot.config, ensure_ascii=False)
        if secret in text or secret in json.dumps(render.to_json_data(record)):
            return True
    return False
