"""Secrets embedded in larger strings (the ``embedded`` family), by where they stand.

Each detector returns :class:`~.findings.Finding` spans covering only the secret,
so the rest of the string (the script, the URL, the header name) stays readable
in the snapshot. The scanner calls a detector only for strings that contain its
needle. The detectors live in their own modules:

* :mod:`.urls`: passwords and tokens in URLs, Sentry DSNs, chat webhook URLs;
* :mod:`.assignments`: ``NAME=value``, ``NAME: value``, ``--name value``, headers;
* :mod:`.commands`: ``mysql -pX``, ``docker login -p X``, ``curl -u u:X``, ``.netrc``...;
* :mod:`.manifests`: ``kind: Secret`` manifests held in a string.
"""

from __future__ import annotations

from .assignments import ASSIGNMENT_RULES, AssignmentDetector, bearer_findings
from .commands import FLAG_DETECTORS, SQL_RULES, sql_findings
from .manifests import K8S_RULES, k8s_secret_findings
from .urls import URL_RULES, WEBHOOK_RULES, TokenTest, url_findings
from .values import is_literal

__all__ = [
    "ASSIGNMENT_RULES",
    "EMBEDDED_RULES",
    "FLAG_DETECTORS",
    "K8S_RULES",
    "SQL_RULES",
    "URL_RULES",
    "WEBHOOK_RULES",
    "AssignmentDetector",
    "TokenTest",
    "bearer_findings",
    "is_literal",
    "k8s_secret_findings",
    "sql_findings",
    "url_findings",
]

EMBEDDED_RULES: tuple[str, ...] = (*URL_RULES, *ASSIGNMENT_RULES, *K8S_RULES, *SQL_RULES)
"""The rule names of this family (the ``pattern:`` webhook rules are listed with the patterns)."""
