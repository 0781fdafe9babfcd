"""The ACME masker passes wfaudit's masker conformance kit."""

import pytest

import wfaudit_acme_masker
from wfaudit.testing import MaskerConformance, Planted

TOKEN = "acme_" + "5f2b8c1d9e0a4b7c" * 2


class TestAcmeMasker(MaskerConformance):
    @pytest.fixture
    def masker(self):
        return wfaudit_acme_masker

    @pytest.fixture
    def planted(self):
        return [
            Planted(config={"deploy": {"script": f"curl -H 'X-Acme: {TOKEN}' https://acme.example"}}, secrets=(TOKEN,)),
            Planted(config={"env": [{"name": "ACME", "value": TOKEN}]}, secrets=(TOKEN,)),
        ]


def test_the_rest_of_the_string_stays_readable(wfaudit):
    wfaudit.audit(workflow_id=1, workflow_type="CI", pipeline_id=1, config={"run": f"acme login {TOKEN} --quiet"})
    run = wfaudit.assert_audited(1, "CI").config["run"]
    assert run.startswith("acme login [masked:") and run.endswith("] --quiet")
