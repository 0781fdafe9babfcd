"""The repository's own test settings (engine and plugins).

Only the Hypothesis profiles live here. The fixtures every suite of the
repository uses (``store_url`` on each backend of ``--wfaudit-backends``, the
``wfaudit_backends`` marker, ``tcp_proxy``, and a ``WFAUDIT_HOME`` of its own
per test with ``wfaudit_isolate_env = true`` in pyproject.toml) ship in the
pytest plugin ``wfaudit.pytest_plugin``, so that a plugin's tests run from the
plugin's own directory with nothing of this repository's root (tox -e plugins).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# Hypothesis: in CI (the CI variable set) derandomized, so a run is the same run every
# time and a gate never flakes; elsewhere it explores freely and keeps what it finds in
# a local database. A failure it finds becomes an explicit test (see
# tests/test_secrets_property.py). HYPOTHESIS_PROFILE overrides the choice.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    database=DirectoryBasedExampleDatabase(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), ".hypothesis", "examples")
    ),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
