"""The GitHub Actions adapter on its own: identity, trigger kinds, secret references."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

import wfaudit_ci.plugin as plugin
from wfaudit import load_payload
from wfaudit_hookspecs import TriggerKind, TriggerRequest
from wfaudit_hookspecs.adapters import FROM_PAYLOAD

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "docs" / "adapters" / "examples"
WORKFLOW = {"on": "push", "jobs": {"test": {"runs-on": "ubuntu-latest", "steps": []}}}


def example(name: str) -> Any:
    return load_payload(str(EXAMPLES / name))


def request(config: Any, workflow_type: str = "CI", **fields: Any) -> TriggerRequest:
    fields.setdefault("workflow_id", FROM_PAYLOAD)
    fields.setdefault("pipeline_id", FROM_PAYLOAD)
    return TriggerRequest(config=config, workflow_type=workflow_type, **fields)


def adapt(req: TriggerRequest) -> TriggerRequest | None:
    """What this plugin answers (the request, completed, or None)."""
    return plugin.wfaudit_pre_trigger(req)


def refs(answer: TriggerRequest | None) -> set[tuple[str, str, str]]:
    assert answer is not None
    return {(r.path, r.kind, r.name) for r in answer.references}


# -- GitHub Actions ---------------------------------------------------------------


def test_github_run_context_gives_identity_kind_and_labels() -> None:
    answer = adapt(request(example("github-actions-run.json")))
    assert answer is not None
    assert answer.workflow_id == "9876543210-2"
    assert answer.pipeline_id == "example-org/web-shop/.github/workflows/ci.yml"
    assert answer.triggered_by == "ben"  # who re-ran it
    assert answer.trigger_kind is TriggerKind.RETRY  # run_attempt 2
    assert answer.attempt == 2
    assert answer.labels == {
        "event": "push",
        "ref": "refs/heads/main",
        "repository": "example-org/web-shop",
        "workflow": "CI",
    }
    assert refs(answer) == {
        ("/workflow/jobs/publish/if", "github-secret", "NPM_TOKEN"),
        ("/workflow/jobs/publish/steps/0/env/NODE_AUTH_TOKEN", "github-secret", "NPM_TOKEN"),
        ("/workflow/jobs/publish/steps/1/with/github-token", "github-secret", "BOT_TOKEN"),
        ("/workflow/jobs/publish/steps/1/with/github-token", "github-secret", "GITHUB_TOKEN"),
    }


@pytest.mark.parametrize(
    ("event", "attempt", "kind"),
    [
        ("push", 1, TriggerKind.WEBHOOK),
        ("pull_request_target", 1, TriggerKind.WEBHOOK),
        ("merge_group", 1, TriggerKind.WEBHOOK),
        ("schedule", 1, TriggerKind.SCHEDULE),
        ("workflow_dispatch", 1, TriggerKind.MANUAL),
        ("schedule", 3, TriggerKind.RETRY),
    ],
)
def test_github_trigger_kind_follows_the_event(event: str, attempt: int, kind: TriggerKind) -> None:
    github = {"event_name": event, "run_id": 5, "run_attempt": attempt, "repository": "o/r"}
    answer = adapt(request({"workflow": WORKFLOW, "github": github}, pipeline_id="p"))
    assert answer is not None
    assert (answer.trigger_kind, answer.attempt) == (kind, attempt)
    assert answer.workflow_id == f"5-{attempt}"


def test_github_pipeline_falls_back_to_repository_and_workflow_name() -> None:
    github = {"run_id": "77", "repository": "o/r", "actor": "ana"}
    answer = adapt(request({"workflow": {**WORKFLOW, "name": "Lint"}, "github": github}))
    assert answer is not None
    assert (answer.workflow_id, answer.pipeline_id, answer.triggered_by) == (
        "77-1",
        "o/r/Lint",
        "ana",
    )
    assert answer.trigger_kind is TriggerKind.MANUAL  # no event: the caller's default stays


def test_github_secret_expressions_in_every_form() -> None:
    workflow = {
        "on": {"workflow_call": {"secrets": {"token": {"required": True}}}},
        "jobs": {
            "call": {"uses": "o/r/.github/workflows/x.yml@v1", "secrets": "inherit"},
            "build": {
                "if": "${{ secrets.A != '' }}",
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"run": "echo ${{ secrets['B-1'] }} ${{secrets.C}}\necho ${{ github.token }}"},
                    {"run": "echo '${{ format('{0}', secrets.D) }}'", "if": "secrets.E"},
                    {"run": "echo secrets.NOT_AN_EXPRESSION $secrets"},
                    {"with": {"token": "${{ inputs.secrets }}"}},
                ],
            },
        },
    }
    answer = adapt(request(workflow, workflow_id="w", pipeline_id="p"))
    assert refs(answer) == {
        ("/jobs/call/secrets", "github-secret", "*"),
        ("/jobs/build/if", "github-secret", "A"),
        ("/jobs/build/steps/0/run", "github-secret", "B-1"),
        ("/jobs/build/steps/0/run", "github-secret", "C"),
        ("/jobs/build/steps/0/run", "github-secret", "GITHUB_TOKEN"),
        ("/jobs/build/steps/1/run", "github-secret", "D"),
        ("/jobs/build/steps/1/if", "github-secret", "E"),
    }
    assert {r.rule for r in answer.references} == {  # type: ignore[union-attr]
        "github-actions.expression",
        "github-actions.inherit",
    }


def test_github_contexts_are_not_scanned_for_references() -> None:
    github = {"run_id": 1, "repository": "o/r", "event": {"comment": "use ${{ secrets.X }}"}}
    answer = adapt(request({"workflow": WORKFLOW, "github": github}, pipeline_id="p"))
    assert refs(answer) == set()
