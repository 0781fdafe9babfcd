"""Secret maskers for wfaudit.

Rules (names as ``disable`` lists them and the manifest records them):

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

:class:`Masker` is a configured masker and a wfaudit plugin; the ``maskers`` entry
point (:mod:`wfaudit_maskers.plugin`) configures one from ``[tool.wfaudit.maskers]``.
"""

from __future__ import annotations

from .masker import Masker
from .names import NameClass, tokenize
from .references import Reference, parse_reference
from .rules import RULE_NAMES, Rule
from .settings import MaskerSettings

__version__ = "0.1.0"

__all__ = [
    "RULE_NAMES",
    "Masker",
    "MaskerSettings",
    "NameClass",
    "Reference",
    "Rule",
    "__version__",
    "parse_reference",
    "tokenize",
]
