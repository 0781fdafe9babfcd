"""The CI and CD adapters on their own: sniffing, identity, trigger kinds, references.

These call the plugins' ``wfaudit_pre_trigger`` directly (no store); the
engine-level behaviour is in test_adapters_engine.py, the real corpus in
test_adapters_corpus.py.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import pathlib
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import wfaudit_cd.plugin as cd_plugin
import wfaudit_ci.plugin as ci_plugin
from wfaudit.loading import load_payload
from wfaudit_ci import FROM_PAYLOAD
from wfaudit_hookspecs import (
    AmbiguousPayload,
    InvalidRequest,
    SecretReference,
    TriggerKind,
    TriggerRequest,
)

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "docs" / "adapters" / "examples"


def example(name: str) -> Any:
    return load_payload(str(EXAMPLES / name))


def request(config: Any, workflow_type: str = "CI", **fields: Any) -> TriggerRequest:
    fields.setdefault("workflow_id", FROM_PAYLOAD)
    fields.setdefault("pipeline_id", FROM_PAYLOAD)
    return TriggerRequest(config=config, workflow_type=workflow_type, **fields)


def adapt(req: TriggerRequest) -> TriggerRequest | None:
    """What the two plugins answer together (at most one of them may answer)."""
    answers = [
        answer
        for answer in (ci_plugin.wfaudit_pre_trigger(req), cd_plugin.wfaudit_pre_trigger(req))
        if answer is not None
    ]
    assert len(answers) <= 1, [a.format for a in answers]
    return answers[0] if answers else None


def refs(answer: TriggerRequest | None) -> set[tuple[str, str, str]]:
    assert answer is not None
    return {(r.path, r.kind, r.name) for r in answer.references}


# -- sniffing -------------------------------------------------------------------

WORKFLOW = {"on": "push", "jobs": {"test": {"runs-on": "ubuntu-latest", "steps": []}}}
ARGO = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "wf"}}
PIPELINE_RUN = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "pr"}}
TASK_RUN = {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": "tr"}}
DEVTRON_CI = {"workflowId": 1, "pipelineId": 2, "ciProjectDetails": []}
DEVTRON_PRE = {"workflowId": 1, "workflowRunnerId": 3, "cdPipelineId": 2, "stageType": "PRE"}


@pytest.mark.parametrize(
    ("config", "workflow_type", "expected"),
    [
        pytest.param(DEVTRON_CI, "CI", "devtron", id="devtron-ci"),
        pytest.param(DEVTRON_PRE, "PRE_CD", "devtron", id="devtron-pre"),
        pytest.param({**DEVTRON_PRE, "stageType": "POST"}, "POST_CD", "devtron", id="devtron-post"),
        pytest.param(WORKFLOW, "CI", "github-actions", id="github-bare"),
        pytest.param(
            {"true": "push", "jobs": WORKFLOW["jobs"]}, "CI", "github-actions", id="yaml11-on"
        ),
        pytest.param({"workflow": WORKFLOW, "github": {}}, "CI", "github-actions", id="github-run"),
        pytest.param(PIPELINE_RUN, "CI", "tekton", id="tekton-ci"),
        pytest.param(TASK_RUN, "CI", "tekton", id="tekton-taskrun-ci"),
        pytest.param(
            [{"apiVersion": "v1", "kind": "Secret"}, TASK_RUN],
            "POST_CD",
            "tekton",
            id="tekton-multi",
        ),
        pytest.param(
            {"apiVersion": "v1", "kind": "List", "items": [PIPELINE_RUN]},
            "PRE_CD",
            "tekton",
            id="tekton-list",
        ),
        pytest.param(ARGO, "PRE_CD", "argo", id="argo"),
        pytest.param({**ARGO, "kind": "CronWorkflow"}, "POST_CD", "argo", id="argo-cron"),
        # Not ours: the engine audits them as given (format "generic").
        pytest.param(ARGO, "CI", None, id="argo-is-cd-only"),
        pytest.param(WORKFLOW, "PRE_CD", None, id="github-is-ci-only"),
        pytest.param({"workflowId": 1, "pipelineId": 2}, "CI", None, id="workflowId-alone"),
        pytest.param(
            {"on": "push", "jobs": {"a": "not a job"}}, "CI", None, id="jobs-not-mappings"
        ),
        pytest.param({"workflow": WORKFLOW, "secrets": {}}, "CI", None, id="secrets-context"),
        pytest.param({"apiVersion": "v1", "kind": "ConfigMap"}, "PRE_CD", None, id="configmap"),
        pytest.param([PIPELINE_RUN, "not an object"], "CI", None, id="mixed-list"),
        pytest.param([], "CI", None, id="empty-list"),
        pytest.param("text", "CI", None, id="string"),
        pytest.param(None, "PRE_CD", None, id="null"),
    ],
)
def test_each_format_sniffs_its_payloads_for_its_workflow_types(
    config: Any, workflow_type: str, expected: str | None
) -> None:
    answer = adapt(request(config, workflow_type, workflow_id="w", pipeline_id="p"))
    assert (answer.format if answer else None) == expected


def test_a_forced_format_only_asks_that_format() -> None:
    assert adapt(request(PIPELINE_RUN, pipeline_id="p", format="tekton"))
    assert adapt(request(PIPELINE_RUN, pipeline_id="p", format="github-actions")) is None
    assert adapt(request(DEVTRON_CI, format="generic")) is None


def test_two_formats_of_one_plugin_claiming_a_payload_is_ambiguous() -> None:
    both = [ARGO, PIPELINE_RUN]
    with pytest.raises(
        AmbiguousPayload,
        match=r"\(argo, tekton\); choose one with --format \(format= in the Python API\)",
    ):
        adapt(request(both, "PRE_CD"))
    forced = adapt(request(both, "PRE_CD", format="argo"))
    assert forced is not None and forced.format == "argo"


def test_adapters_never_modify_the_config() -> None:
    for name, workflow_type in [
        ("devtron-ci.json", "CI"),
        ("github-actions-run.json", "CI"),
        ("argo-workflow.yaml", "POST_CD"),
        ("tekton-pipelinerun.yaml", "CI"),
    ]:
        config = example(name)
        before = copy.deepcopy(config)
        answer = adapt(request(config, workflow_type, workflow_id="w", pipeline_id="p"))
        assert answer is not None
        assert answer.config is config  # the same object, passed on
        assert config == before


def test_plugins_declare_their_types_and_formats() -> None:
    def collect(hook: Callable[..., None]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        hook(register=lambda name, *rest, **keywords: out.setdefault(name, rest))
        return out

    assert set(collect(ci_plugin.wfaudit_workflow_types)) == {"CI"}
    assert set(collect(cd_plugin.wfaudit_workflow_types)) == {"PRE_CD", "POST_CD"}
    ci_formats = collect(ci_plugin.wfaudit_payload_formats)
    cd_formats = collect(cd_plugin.wfaudit_payload_formats)
    assert {name: tuple(v[0]) for name, v in ci_formats.items()} == {
        "devtron": ("CI",),
        "github-actions": ("CI",),
        "tekton": ("CI",),
    }
    assert {name: tuple(v[0]) for name, v in cd_formats.items()} == {
        "devtron": ("PRE_CD", "POST_CD"),
        "argo": ("PRE_CD", "POST_CD"),
        "tekton": ("PRE_CD", "POST_CD"),
    }


# -- the identity rule ----------------------------------------------------------


def test_the_callers_identity_wins_and_the_payload_fills_the_rest() -> None:
    config = example("devtron-ci.json")
    given = adapt(
        request(
            config,
            workflow_id="run-9",
            pipeline_id="pipe-9",
            triggered_by="ops",
            trigger_kind="webhook",
            labels={"app": "override", "team": "payments"},
            references=[SecretReference(path="/dockerUsername", kind="vault", name="x")],
        )
    )
    assert given is not None
    assert (given.workflow_id, given.pipeline_id, given.triggered_by) == ("run-9", "pipe-9", "ops")
    assert given.trigger_kind is TriggerKind.WEBHOOK
    assert given.labels == {
        "app": "override",
        "pipeline": "ci-12-checkout-api",
        "stage": "CI",
        "team": "payments",
    }
    assert given.references[0].kind == "vault"  # the caller's come first
    filled = adapt(request(config))
    assert filled is not None
    assert (filled.workflow_id, filled.pipeline_id, filled.triggered_by) == ("4711", "12", "7")


def test_a_placeholder_the_payload_cannot_fill_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match=r"workflow id '-' asks the github-actions adapter"):
        adapt(request(WORKFLOW, pipeline_id="p"))
    generate_only = {**PIPELINE_RUN, "metadata": {"generateName": "build-"}}
    answer = adapt(request(generate_only, workflow_id="w"))
    assert answer is not None and answer.pipeline_id == "build"
    with pytest.raises(InvalidRequest, match="pass the workflow id explicitly"):
        adapt(request(generate_only))


# -- Devtron --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "workflow_type", "identity", "labels"),
    [
        ("devtron-ci.json", "CI", ("4711", "12"), {"app": "checkout-api", "stage": "CI"}),
        (
            "devtron-pre-cd.json",
            "PRE_CD",
            ("5120", "31"),
            {"environment": "production", "stage": "PRE"},
        ),
        (
            "devtron-post-cd.json",
            "POST_CD",
            ("5121", "31"),
            {"app": "checkout-api", "stage": "POST"},
        ),
    ],
)
def test_devtron_identity_labels_and_references(
    name: str, workflow_type: str, identity: tuple[str, str], labels: dict[str, str]
) -> None:
    answer = adapt(request(example(name), workflow_type))
    assert answer is not None and answer.format == "devtron"
    assert (answer.workflow_id, answer.pipeline_id, answer.triggered_by) == (*identity, "7")
    assert labels.items() <= answer.labels.items()
    expected = (
        {("/secretName", "k8s-secret", "checkout-db-credentials")} if "pre" in name else set()
    )
    assert refs(answer) == expected


@pytest.mark.parametrize(
    ("stage", "workflow_type", "message"),
    [
        ("POST", "CI", "is a POST stage request but was triggered as CI; trigger it as POST_CD"),
        (
            "PRE",
            "POST_CD",
            "is a PRE stage request but was triggered as POST_CD; trigger it as PRE_CD",
        ),
        ("", "PRE_CD", "is a CI stage request but was triggered as PRE_CD; trigger it as CI"),
        ("DEPLOY", "PRE_CD", "stageType is not empty \\(CI\\), PRE or POST"),
        ("DEPLOY", "CI", "stageType is not empty \\(CI\\), PRE or POST"),
    ],
)
def test_a_devtron_stage_that_contradicts_the_type_is_refused(
    stage: str, workflow_type: str, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message) as raised:
        adapt(request({**DEVTRON_PRE, "stageType": stage}, workflow_type))
    assert "DEPLOY" not in str(raised.value)  # messages never quote request data


def test_devtron_ids_of_zero_are_unset() -> None:
    config = {**DEVTRON_PRE, "workflowRunnerId": 0, "cdPipelineId": 0, "pipelineId": 5}
    answer = adapt(request(config, "PRE_CD"))
    assert answer is not None and (answer.workflow_id, answer.pipeline_id) == ("1", "5")
    assert answer.triggered_by is None


# -- Tekton (GitHub Actions: plugins/wfaudit-ci/tests; Argo: plugins/wfaudit-cd/tests) --


def test_tekton_pipelinerun_started_by_triggers() -> None:
    answer = adapt(request(example("tekton-pipelinerun.yaml")))
    assert answer is not None and answer.format == "tekton"
    assert (answer.workflow_id, answer.pipeline_id) == (
        "ci/build-checkout-api-x7k2p",
        "ci/build-and-push",
    )
    assert answer.trigger_kind is TriggerKind.WEBHOOK
    assert answer.labels == {"kind": "PipelineRun", "namespace": "ci", "pipeline": "build-and-push"}
    assert refs(answer) == {
        (
            "/1/spec/taskRunTemplate/podTemplate/imagePullSecrets/0",
            "k8s-secret",
            "registry-credentials",
        ),
        ("/1/spec/workspaces/0/secret/secretName", "k8s-secret", "git-credentials"),
    }


def test_tekton_taskrun_and_rerun() -> None:
    config = example("tekton-taskrun.yaml")
    answer = adapt(request(config, "POST_CD", workflow_id="w"))
    assert answer is not None
    assert answer.pipeline_id == "checkout/verify-release"
    assert answer.labels == {"kind": "TaskRun", "namespace": "checkout", "task": "verify-release"}
    assert answer.trigger_kind is TriggerKind.MANUAL
    rerun = {**config, "metadata": {"name": "v2", "labels": {"dashboard.tekton.dev/rerunOf": "v1"}}}
    answer = adapt(request(rerun, "POST_CD"))
    assert answer is not None and answer.trigger_kind is TriggerKind.RETRY
    assert (answer.workflow_id, answer.pipeline_id) == ("v2", "verify-release")


def test_kubernetes_reference_shapes() -> None:
    pod_spec = {
        "imagePullSecrets": [{"name": "pull"}, {"other": "x"}],
        "volumes": [
            {"name": "v", "secret": {"secretName": "vol"}},
            {"name": "p", "projected": {"sources": [{"secret": {"name": "proj", "items": []}}]}},
        ],
        "containers": [
            {
                "envFrom": [{"secretRef": {"name": "from"}}, {"configMapRef": {"name": "cm"}}],
                "env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "sk", "key": "a"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "", "key": "b"}}},
                ],
            }
        ],
    }
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "builder"},
        "secrets": [{"name": "sa-secret"}],
    }
    run = {
        **TASK_RUN,
        "spec": {
            "podTemplate": pod_spec,
            "notASelector": {"passwordSecret": {"name": "n", "extra": 1}},
        },
    }
    answer = adapt(request([account, run], workflow_id="w", pipeline_id="p"))
    spec = "/1/spec/podTemplate"
    assert refs(answer) == {
        ("/0/secrets/0", "k8s-secret", "sa-secret"),
        (f"{spec}/imagePullSecrets/0", "k8s-secret", "pull"),
        (f"{spec}/volumes/0/secret/secretName", "k8s-secret", "vol"),
        (f"{spec}/volumes/1/projected/sources/0/secret", "k8s-secret", "proj"),
        (f"{spec}/containers/0/envFrom/0/secretRef", "k8s-secret", "from"),
        (f"{spec}/containers/0/env/0/valueFrom/secretKeyRef", "k8s-secret", "sk/a"),
    }


def test_labels_and_identities_taken_from_a_payload_are_bounded() -> None:
    long_name = "x" * 300
    config = {**DEVTRON_CI, "appName": long_name, "pipelineName": "ok\nnot", "triggeredBy": True}
    answer = adapt(request(config, workflow_id="w", pipeline_id="p"))
    assert answer is not None
    assert answer.labels == {"stage": "CI"}
    assert answer.triggered_by is None
    assert json.dumps(dict(answer.labels))


def _runtime_requirements(distribution: str) -> list[str]:
    """What installing ``distribution`` installs (its ``test`` extra left out)."""
    return [r for r in importlib.metadata.requires(distribution) or [] if "extra ==" not in r]


def test_the_adapters_depend_on_the_contract_only() -> None:
    assert _runtime_requirements("wfaudit-ci") == ["wfaudit-hookspecs~=0.1"]
    # The readers both share are the contract's adapter kit: no adapter imports another.
    assert _runtime_requirements("wfaudit-cd") == ["wfaudit-hookspecs~=0.1"]
    check = (
        "import sys, wfaudit_cd.plugin; "
        "assert 'wfaudit_ci' not in sys.modules; "
        "import wfaudit_ci.plugin; "
        "engine = [m for m in sys.modules if m == 'wfaudit' or m.startswith('wfaudit.')]; "
        "assert not engine, engine"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)


# -- Devtron: the minimal shape of Devtron's own tests, and a retrigger's new run --------

DEVTRON_MINIMAL = {"workflowId": 123, "pipelineId": 456, "Type": "CI", "triggeredBy": 1}


@pytest.mark.parametrize(
    ("config", "workflow_type", "identity"),
    [
        (DEVTRON_MINIMAL, "CI", ("123", "456", "1")),
        ({**DEVTRON_MINIMAL, "Type": "JOB"}, "CI", ("123", "456", "1")),
        ({**DEVTRON_MINIMAL, "Type": "CD"}, "PRE_CD", ("123", "456", "1")),
        ({**DEVTRON_MINIMAL, "Type": "CD"}, "POST_CD", ("123", "456", "1")),
        ({**DEVTRON_MINIMAL, "Type": "CD", "stageType": "POST"}, "POST_CD", ("123", "456", "1")),
    ],
)
def test_devtrons_minimal_request_is_recognised(
    config: dict[str, Any], workflow_type: str, identity: tuple[str, str, str]
) -> None:
    answer = adapt(request(config, workflow_type))
    assert answer is not None and answer.format == "devtron"
    assert (answer.workflow_id, answer.pipeline_id, answer.triggered_by) == identity


@pytest.mark.parametrize(
    ("config", "workflow_type"),
    [
        ({**DEVTRON_MINIMAL, "Type": "CD"}, "CI"),  # a deployment request audited as CI
        ({**DEVTRON_MINIMAL, "Type": "CI", "stageType": "PRE"}, "CI"),
    ],
)
def test_a_minimal_request_that_contradicts_its_type_is_refused(
    config: dict[str, Any], workflow_type: str
) -> None:
    with pytest.raises(InvalidRequest, match="trigger it as P"):
        adapt(request(config, workflow_type))


@pytest.mark.parametrize(
    "config", [{"workflowId": 1, "Type": "BUILD"}, {"workflowId": 1, "Type": 3}, {"Type": "CI"}]
)
def test_a_type_key_alone_does_not_make_a_devtron_request(config: dict[str, Any]) -> None:
    assert adapt(request(config, "CI", workflow_id="w", pipeline_id="p")) is None


def new_run(config: Any, workflow_type: str, workflow_id: str) -> TriggerRequest | None:
    req = request(config, workflow_type, workflow_id=workflow_id, pipeline_id="p")
    req = attrs.evolve(req, format="devtron")
    answers = [
        a for a in (ci_plugin.wfaudit_new_run(req), cd_plugin.wfaudit_new_run(req)) if a is not None
    ]
    assert len(answers) <= 1
    return answers[0] if answers else None


def test_devtrons_new_run_identities_are_written_where_devtron_keeps_them() -> None:
    ci = {**DEVTRON_CI, "triggeredBy": 7}
    answer = new_run(ci, "CI", "4712")
    assert answer is not None and answer.config is not ci
    assert (answer.config["workflowId"], answer.config["triggeredBy"]) == (4712, 1)
    assert answer.triggered_by == "1" and ci["workflowId"] == 1  # the given config is kept
    pre = new_run(DEVTRON_PRE, "PRE_CD", "5121")
    assert pre is not None
    assert (pre.config["workflowRunnerId"], pre.config["workflowId"]) == (5121, 1)
    minimal_cd = new_run({**DEVTRON_MINIMAL, "Type": "CD"}, "POST_CD", "99")
    assert minimal_cd is not None and minimal_cd.config["workflowId"] == 99
    # Not a Devtron request: the other formats keep the config as it is.
    other = attrs.evolve(
        request(WORKFLOW, workflow_id="5", pipeline_id="p"), format="github-actions"
    )
    assert ci_plugin.wfaudit_new_run(other) is None


@pytest.mark.parametrize("workflow_id", ["1001-retry1", "0", "-3", "12a"])
def test_a_devtron_new_run_needs_an_integer_id(workflow_id: str) -> None:
    with pytest.raises(InvalidRequest, match="a Devtron run's id is a positive integer"):
        new_run(DEVTRON_CI, "CI", workflow_id)
