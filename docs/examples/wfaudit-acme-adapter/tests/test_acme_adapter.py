"""The Acme Flow adapter passes wfaudit's adapter conformance kit."""

import copy

import pytest

import wfaudit_acme_adapter
from wfaudit.testing import AdapterCase, AdapterConformance

RUN = {
    "acmeflow": "1",
    "run": {"id": 5521, "pipeline": "payments/deploy", "triggeredBy": "ana"},
    "stages": [
        {
            "name": "build",
            "image": "ghcr.io/acme/builder:1.4",
            "env": {"REGISTRY_PASSWORD": {"fromSecret": "registry/password"}},
            "script": "make build",
        },
        {
            "name": "deploy",
            "env": {"LOG_LEVEL": "info"},
            "script": "deploy --token ${{ secret:deploy/token }}",
        },
    ],
}


class TestAcmeAdapter(AdapterConformance):
    @pytest.fixture
    def adapter(self):
        return wfaudit_acme_adapter

    @pytest.fixture
    def cases(self):
        return [
            AdapterCase(
                "CI",
                RUN,
                "acme-flow",
                references=frozenset({"/stages/0/env/REGISTRY_PASSWORD"}),
            ),
            AdapterCase("PRE_CD", RUN, "acme-flow", label="a deployment"),
        ]


@pytest.mark.wfaudit_plugins(wfaudit_acme_adapter)
def test_the_run_is_identified_and_its_references_kept(wfaudit):
    wfaudit.audit(workflow_id=5521, workflow_type="CI", pipeline_id="?", config=RUN)
    snapshot = wfaudit.assert_audited(5521, "CI")
    assert snapshot.pipeline_id == "payments/deploy"
    assert snapshot.triggered_by == "ana"
    names = {(ref.kind, ref.name) for ref in snapshot.manifest.references}
    assert names == {("acme-secret", "registry/password"), ("acme-secret", "deploy/token")}
    assert snapshot.config["stages"][1]["script"] == "deploy --token ${{ secret:deploy/token }}"
    # A reference names a secret and holds none: listed, never masked.
    assert snapshot.config["stages"][0]["env"] == RUN["stages"][0]["env"]
    assert not snapshot.manifest.fields


@pytest.mark.wfaudit_plugins(wfaudit_acme_adapter)
def test_a_diff_names_the_stage_that_changed(wfaudit):
    moved = copy.deepcopy(RUN)
    moved["stages"].reverse()  # stages are matched by "name": a move, not two changes
    moved["stages"][0]["env"]["LOG_LEVEL"] = "debug"
    wfaudit.audit(workflow_id=5521, workflow_type="CI", pipeline_id="?", config=RUN)
    wfaudit.audit(workflow_id=5522, workflow_type="CI", pipeline_id="?", config=moved)
    a = wfaudit.assert_audited(5521, "CI")
    b = wfaudit.assert_audited(5522, "CI")
    changes = [(c.op, c.path, c.from_path) for c in wfaudit.auditor.diff(a, b).changes]
    assert changes == [
        ("moved", "/stages/0", "/stages/1"),  # the deploy stage, now first
        ("modified", "/stages/0/env/LOG_LEVEL", None),
    ]
