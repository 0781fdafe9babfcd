"""The repository's fixtures as the shipped plugin gives them: store_url on each
backend, the wfaudit_backends marker, wfaudit_isolate_env (pytester, as a user's suite)."""

from __future__ import annotations

import pytest


def test_store_url_runs_once_per_chosen_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_url(store_url):
            assert store_url.startswith("sqlite:///") and store_url.endswith("store.sqlite3")

        @pytest.mark.wfaudit_backends("postgresql")
        def test_only_postgresql(store_url):
            raise AssertionError("not selected")
        """
    )
    result = pytester.runpytest("--wfaudit-backends=sqlite", "-v")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*test_url[[]sqlite[]] PASSED*", "*no-backend*SKIPPED*"])


def test_an_unknown_backend_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_url(store_url):\n    pass\n")
    result = pytester.runpytest("--wfaudit-backends=sqlite,oracle")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*unknown backend(s) oracle*"])


def test_a_store_url_of_ones_own_is_not_parametrized(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def store_url():
            return "sqlite:///mine.sqlite3"
        """
    )
    pytester.makepyfile(
        "def test_url(store_url):\n    assert store_url == 'sqlite:///mine.sqlite3'\n"
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_url PASSED*"])


@pytest.mark.parametrize("isolate", [True, False])
def test_wfaudit_isolate_env(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, isolate: bool
) -> None:
    monkeypatch.setenv("WFAUDIT_HOME", "/nonexistent/outer-home")
    monkeypatch.setenv("WFAUDIT_STORE_URL", "sqlite:///outer.sqlite3")
    if isolate:
        pytester.makeini("[pytest]\nwfaudit_isolate_env = true\n")
    pytester.makepyfile(
        f"""
        import os

        def test_env():
            isolated = {isolate!r}
            assert (os.environ["WFAUDIT_HOME"] != "/nonexistent/outer-home") is isolated
            assert ("WFAUDIT_STORE_URL" not in os.environ) is isolated
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
