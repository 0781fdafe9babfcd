"""The hook implementations of wfaudit-objectstore (entry point ``objectstore``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wfaudit_hookspecs import hookimpl

if TYPE_CHECKING:
    from .s3 import S3Archive

__all__ = ["wfaudit_open_archive"]


@hookimpl
def wfaudit_open_archive(url: str) -> S3Archive | None:
    """Open an :class:`~wfaudit_objectstore.s3.S3Archive` for ``s3://`` URLs."""
    if not url.startswith("s3://"):
        return None
    from .s3 import S3Archive

    return S3Archive.from_url(url)
