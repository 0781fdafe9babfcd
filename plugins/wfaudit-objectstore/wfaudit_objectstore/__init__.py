"""wfaudit-objectstore: wfaudit's archive tier on S3-compatible object storage.

The engine finds this package through the ``objectstore`` entry point of the
``wfaudit`` group (:mod:`wfaudit_objectstore.plugin`), which opens ``s3://``
archive URLs. :class:`S3Archive` is also usable directly. boto3 is imported on
first use, so loading the plugin costs nothing to commands that never archive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .s3 import S3Archive

__version__ = "0.1.0"

__all__ = ["S3Archive", "__version__"]


def __getattr__(name: str) -> object:
    if name == "S3Archive":
        from .s3 import S3Archive

        return S3Archive
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
