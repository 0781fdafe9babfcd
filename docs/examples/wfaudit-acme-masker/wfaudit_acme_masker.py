"""A wfaudit masker for ACME's in-house API tokens (``acme_`` + 32 hex digits).

It finds them as they are, and inside base64 and URL-encoded strings, since a
token often travels encoded (a basic-auth header, a query string).
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse

from wfaudit_hookspecs import MaskContext, hookimpl
from wfaudit_hookspecs.pointer import iter_nodes

TOKEN = re.compile(r"acme_[0-9a-f]{32}")
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}")
RULE = "acme.token"


@hookimpl
def wfaudit_mask(context: MaskContext) -> None:
    """Mark every ACME token in the config's strings."""
    for path, value in iter_nodes(context.config):
        if not isinstance(value, str):
            continue
        for match in TOKEN.finditer(value):
            context.mask(path, rule=RULE, span=match.span())
        if "%" in value and TOKEN.search(urllib.parse.unquote(value)):
            context.mask(path, rule=RULE + ".url-encoded")  # the whole value: offsets differ
        for run in BASE64_RUN.finditer(value):
            if _decodes_to_token(run.group()):
                context.mask(path, rule=RULE + ".base64", span=run.span())


def _decodes_to_token(text: str) -> bool:
    padded = text + "=" * (-len(text) % 4)
    try:
        decoded = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return TOKEN.search(decoded.decode("latin-1")) is not None
