"""Secret maskers for wfaudit.

Rule families (names as ``disable`` lists them; the manifest records the family,
or ``family:rule`` for the string families):

``known-field``
    Known secret fields of CI/CD requests (Devtron's blob-storage and registry
    credentials, git, cloud and kubeconfig credentials, ``kind: Secret`` data),
    masked whole.
``keyword``
    Values whose key name holds a secret keyword (``dbPassword``, ``API_TOKEN``),
    in any naming style; references such as ``${{ secrets.X }}`` are listed, not masked.
``reference``
    References to secrets (``secretName``, ``secretKeyRef``, ``${{ secrets.X }}``
    anywhere), listed in the manifest.
``pattern``
    Credential formats recognised by their shape anywhere in a string
    (``pattern:github-pat``, ``pattern:aws-access-key-id``...; see :data:`CATALOG`).
``embedded``
    Secrets inside larger strings: URL passwords, assignments, command-line
    flags, Authorization headers, Kubernetes Secret manifests.
``encoded``
    Base64 and URL-encoded secrets, and copies of the secrets found elsewhere.
``entropy``
    Random-looking tokens, as a last resort.

:class:`Masker` is a configured masker and a wfaudit plugin; the ``maskers`` entry
point (:mod:`wfaudit_maskers.plugin`) configures one from ``[tool.wfaudit.maskers]``.
"""

from __future__ import annotations

from .findings import Finding
from .masker import Masker
from .names import NameClass, tokenize
from .patterns import CATALOG, ValuePattern
from .references import Reference, parse_reference
from .rules import Rule
from .settings import FAMILIES, MaskerSettings

RULE_NAMES = FAMILIES
"""The rule families ``disable`` accepts (single rules are ``family:name``)."""

__version__ = "0.1.0"

__all__ = [
    "CATALOG",
    "RULE_NAMES",
    "Finding",
    "Masker",
    "MaskerSettings",
    "NameClass",
    "Reference",
    "Rule",
    "ValuePattern",
    "__version__",
    "parse_reference",
    "tokenize",
]
