"""The pytest plugin where a plugin author and an orchestrator first stumbled:
an installed plugin given to the marker again, an orchestrator's own auditor,
and the memory store as the fixtures' store."""

from __future__ import annotations

import pytest

SUITE = """
import pytest
import wfaudit_maskers.plugin
from wfaudit import Auditor


@pytest.mark.wfaudit_plugins(wfaudit_maskers.plugin)
def test_an_installed_plugin_given_to_the_marker_is_reused(wfaudit_auditor):
    pm = wfaudit_auditor.plugin_manager
    assert pm.maskers().count("maskers") == 1, pm.maskers()
    assert pm.get_name(wfaudit_maskers.plugin) == "maskers"


def test_the_context_manager_leaves_an_installed_plugin_in(wfaudit_auditor, wfaudit_plugins):
    with wfaudit_plugins(wfaudit_maskers.plugin):
        pass
    assert "maskers" in wfaudit_auditor.plugin_manager.maskers()


def orchestrator_triggers(workflow_id):
    # What an orchestrator's own code does: no store URL, the environment's.
    with Auditor.from_url() as auditor:
        return auditor.audit_trigger(
            workflow_id=workflow_id,
            workflow_type="CI",
            pipeline_id=7,
            config={"dockerPassword": "Fixture-Pa55word-0042"},
        )


def test_the_orchestrators_own_auditor_writes_where_the_fixtures_look(wfaudit):
    assert orchestrator_triggers(1001).ok
    wfaudit.assert_audited(1001, "CI")
    wfaudit.assert_masked(1001, "CI", "/dockerPassword")
    wfaudit.assert_no_secret("Fixture-Pa55word-0042")
"""


@pytest.mark.parametrize("store", [None, "memory://"])
def test_the_fixtures_fit_an_orchestrators_test_suite(
    pytester: pytest.Pytester, store: str | None
) -> None:
    pytester.makepyfile(test_orchestrator=SUITE)
    options = ["-p", "no:cacheprovider"] + (["--wfaudit-store", store] if store else [])
    result = pytester.runpytest_subprocess(*options)
    result.assert_outcomes(passed=3)


def test_without_the_environment_the_orchestrators_auditor_misses_the_store(
    pytester: pytest.Pytester,
) -> None:
    """The test above can fail: with the fixture's variable removed, the
    orchestrator writes to another store and the assertion says so."""
    pytester.makepyfile(
        test_orchestrator=SUITE.replace(
            "    assert orchestrator_triggers(1001).ok",
            "    import os\n"
            "    os.environ['WFAUDIT_STORE_URL'] = 'memory://elsewhere'\n"
            "    assert orchestrator_triggers(1001).ok",
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "orchestrators_own")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*CI workflow 1001 was not audited*"])
