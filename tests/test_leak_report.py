"""A failing ``assert_no_secret`` (the fixture's, the function's, the masker kit's)
names each leak by place and label, once, and its whole report never shows a
planted value: default traceback, ``--tb=long``, and ``-l`` (locals) too. (A
test's own locals are its author's: kept in a ``Secrets``, they show no value.)

The planted values are fresh per run and reach the generated test suite only
through the environment, so the suite's source (shown in tracebacks) holds none.
"""

from __future__ import annotations

import secrets as random_secrets

import pytest

from wfaudit.testing import Secrets, find_secrets
from wfaudit.testing.assertions import leak_report
from wfaudit.testing.scan import Finding

SUITE = """
import os

import pytest

from wfaudit import hookimpl
from wfaudit.testing import MaskerConformance, Planted, Secrets, assert_no_secret

NOTE = os.environ["LEAK_NOTE"]
SCRIPT = os.environ["LEAK_SCRIPT"]
KIT = os.environ["LEAK_KIT"]


def test_fixture_leak(wfaudit):
    wfaudit.audit(
        workflow_id=1, workflow_type="CI", pipeline_id=1,
        config={"note": NOTE, "steps": [{"run": "echo " + SCRIPT}]},
    )
    wfaudit.assert_no_secret({"release note": NOTE}, SCRIPT)


def test_function_leak(wfaudit):
    wfaudit.audit(workflow_id=2, workflow_type="CI", pipeline_id=1, config={"note": NOTE})
    planted = Secrets(note=NOTE, script=SCRIPT)  # a local `pytest -l` may show
    assert_no_secret(planted, auditor=wfaudit.auditor)


class Blind:
    @hookimpl
    def wfaudit_mask(self, context):
        pass  # finds nothing


class TestBlindMasker(MaskerConformance):
    @pytest.fixture
    def masker(self):
        return Blind()

    @pytest.fixture
    def planted(self):
        return [Planted(config={"banner": "motd " + KIT}, secrets=(KIT,), label="banner")]
"""


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> Secrets:
    # Plain words: no masker rule finds them, so they leak with every plugin installed.
    values = Secrets(
        LEAK_NOTE=f"quiet harbour lanterns {random_secrets.randbelow(10**9)}",
        LEAK_SCRIPT=f"copper meadow {random_secrets.randbelow(10**9)} rivers",
        LEAK_KIT=f"amber orchard {random_secrets.randbelow(10**9)} kites",
    )
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.mark.parametrize(
    "options", [(), ("--tb=long",), ("-l",), ("--tb=long", "-l"), ("--tb=short", "-l")]
)
def test_a_failing_leak_report_shows_no_planted_value(
    pytester: pytest.Pytester, planted: Secrets, options: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_leaky=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *options)
    # the kit's two tests of what is not secret and of marking pass
    result.assert_outcomes(failed=5, passed=2)
    output = result.stdout.str() + result.stderr.str()
    assert "secret leak" in output
    assert not find_secrets(planted, texts=[("pytest output", output)]), (
        f"the report of `pytest {' '.join(options)}` shows a planted value"
    )
    # Each leak by place and label.
    result.stdout.fnmatch_lines(
        [
            "*release note in table blobs, row 0, column data [[]plain[]]*",
            "*release note in snapshot * at /config/note [[]plain[]]*",
            "*secret #2 in snapshot * at /config/steps/0/run [[]plain[]]*",
            "*1 secret leak:*",
            "*note in snapshot * at /config/note [[]plain[]]*",
        ]
    )
    result.stdout.fnmatch_lines(["*banner, secret 1 in snapshot * at /config/banner [[]plain[]]*"])
    result.stdout.fnmatch_lines(["*banner, secret 1 in snapshot * at /config/banner [[]base64*"])
    result.stdout.fnmatch_lines(
        ["*banner, secret 1 in snapshot * at /config/banner [[]url-encoded*"]
    )


def test_a_leak_is_reported_once_per_place_and_secret() -> None:
    text = "alpha-secret-value and again alpha-secret-value"
    found = find_secrets({"alpha": "alpha-secret-value"}, texts=[("log", text), ("out", text)])
    assert [(f.where, f.label) for f in found] == [("log", "alpha"), ("out", "alpha")]
    report = leak_report(found)
    assert report.count("alpha in log") == 1
    assert "alpha-secret-value" not in report


def test_unlabelled_secrets_are_numbered() -> None:
    found = find_secrets(
        ["first-secret-value", "second-secret-value"], texts=[("t", "second-secret-value")]
    )
    assert found == [Finding(where="t", form="plain", secret_index=1, label="secret #2")]


def test_labelled_secrets_never_show_in_a_repr() -> None:
    values = Secrets(token="tok-3f9c2a7e1b4d5c6f")
    assert "tok-3f9c2a7e1b4d5c6f" not in repr(values)
    assert "tok-3f9c2a7e1b4d5c6f" not in str(values)
    assert "token" in repr(values)
