"""``wfaudit trigger --server URL``: send a trigger to a running ``wfaudit serve``.

The server masks and stores (or spools) the request, exactly as a local audit
does; this module only reads the payload, posts it to ``POST /api/v1/triggers``
and turns the answer into the command's one line and exit status. It imports
neither the engine nor a plugin (nor SQLAlchemy): the process stays about as
light as ``wfaudit --version`` (bench/bench_cli.py).

Answers, as the local command says them:

=====================  =================================================  ======
HTTP                   line                                               exit
=====================  =================================================  ======
``201``                ``audited: ... (new snapshot, N masked)``          0
``200``                ``audited: ... (already audited (no-op), ...)``    0
``202``                ``spooled: ...`` (the server's durable spool)      0
``409``, other ``4xx``  ``Error: ...`` (the server's message)               1
unreachable, ``5xx``   ``not audited: ...`` (nothing kept anywhere)       0, or 1
                                                                          with
                                                                          strict
=====================  =================================================  ======

An unreachable server is the one case where the audit is lost: the request
holds secrets, so it is never written down unmasked, and it cannot be masked
here (the fingerprints need the server's key). The line says so plainly; an
orchestrator that must not lose an audit passes ``--strict`` and retries (every
request is idempotent: the same run with the same content gets the same answer).
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs

from wfaudit_hookspecs import WfauditError

__all__ = ["TOKEN_ENV", "RemoteAnswer", "ServerRefused", "read_token", "send_trigger"]

TOKEN_ENV = "WFAUDIT_INGEST_TOKEN"  # noqa: S105 - a variable name, not a token
"""The environment variable holding the ``write`` token, as ``wfaudit serve`` reads it."""

PATH = "/api/v1/triggers"
_RETRY_STATUSES = frozenset({502, 503, 504})
_MAX_ERROR_CHARS = 500


class ServerRefused(WfauditError):
    """The server answered, and refused the trigger (a ``4xx``): bad input, exit 1."""


class RemoteSetupError(WfauditError):
    """The ``--server`` options cannot work (bad URL, no token): exit 1."""


@attrs.frozen(kw_only=True)
class RemoteAnswer:
    """What came back from the server.

    :ivar status: the HTTP status, or None when no answer came.
    :ivar body: the JSON body (``{}`` when there was none).
    :ivar problem: why no usable answer came (unreachable, timeout, ``5xx``).
    """

    status: int | None
    body: Mapping[str, Any]
    problem: str | None = None


def read_token(token_file: str | None) -> str:
    """The write token: from ``token_file`` (its first line), else ``$WFAUDIT_INGEST_TOKEN``.

    :raises RemoteSetupError: no token, or the file cannot be read. The messages
        never quote the token.
    """
    if token_file is not None:
        try:
            with open(token_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            raise RemoteSetupError(
                f"cannot read the token file {token_file}: {error.strerror or error}"
            ) from None
        except UnicodeDecodeError:
            raise RemoteSetupError(f"the token file {token_file} is not UTF-8 text") from None
        token = text.strip().splitlines()[0].strip() if text.strip() else ""
        if not token:
            raise RemoteSetupError(f"the token file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise RemoteSetupError(
            f"--server needs a write token: set {TOKEN_ENV} or pass --token-file PATH"
        )
    return token


def endpoint(server: str) -> urllib.parse.SplitResult:
    """``server``'s ``POST /api/v1/triggers`` address.

    :raises RemoteSetupError: not an ``http(s)://host[:port][/prefix]`` URL.
    """
    try:
        parts = urllib.parse.urlsplit(server.strip())
        port = parts.port  # raises on a port out of range
    except ValueError:
        raise RemoteSetupError("--server is not a URL (http://HOST:PORT)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteSetupError("--server must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise RemoteSetupError(
            "--server takes http(s)://HOST[:PORT][/PREFIX] only: pass the token with "
            f"{TOKEN_ENV} or --token-file"
        )
    del port
    path = parts.path.rstrip("/")
    if not path.endswith(PATH):
        path += PATH
    return parts._replace(path=path)


def send_trigger(
    server: str, token: str, fields: Mapping[str, Any], *, timeout: float
) -> RemoteAnswer:
    """POST ``fields`` (a ``TriggerRequest`` as JSON) to ``server``.

    A connection refused, a timeout or a ``502``/``503``/``504`` is tried again
    (the request is idempotent) while ``timeout`` seconds allow; then the answer
    has a ``problem``. Any other answer is returned as it came.
    """
    import http.client  # only here: the local path never needs it

    target = endpoint(server)
    body = json.dumps(fields, ensure_ascii=False, allow_nan=False).encode("utf-8")
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": "wfaudit-cli",
    }
    deadline = time.monotonic() + timeout
    pause = 0.1
    while True:
        left = deadline - time.monotonic()
        connection_type = (
            http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_type(target.hostname or "", target.port, timeout=max(left, 0.001))
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            status = response.status
            raw = response.read()
            retry_after = response.getheader("Retry-After")
        except (OSError, http.client.HTTPException) as error:
            problem = _transport_problem(error)
            status, raw, retry_after = None, b"", None
        finally:
            connection.close()
        if status is not None and status not in _RETRY_STATUSES:
            return RemoteAnswer(status=status, body=_json_body(raw))
        if status is not None:
            problem = f"the server answered {status}{_error_suffix(_json_body(raw))}"
        wait = pause
        if retry_after is not None and retry_after.strip().isdigit():
            wait = max(wait, float(retry_after.strip()))
        if time.monotonic() + wait >= deadline:
            return RemoteAnswer(status=status, body=_json_body(raw), problem=problem)
        time.sleep(wait)
        pause = min(pause * 2, 2.0)


def _transport_problem(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return type(error).__name__


def _json_body(raw: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error_suffix(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    if not isinstance(error, str) or not error:
        return ""
    return f": {error[:_MAX_ERROR_CHARS]}"


def refused(answer: RemoteAnswer) -> ServerRefused:
    """The error for a ``4xx`` answer: the server's message (which never quotes the
    request), else the status."""
    message = answer.body.get("error")
    if isinstance(message, str) and message:
        if answer.status == 409:
            return ServerRefused(message[:_MAX_ERROR_CHARS])
        return ServerRefused(f"the server refused the trigger ({answer.status}): {message}")
    return ServerRefused(f"the server refused the trigger ({answer.status})")
