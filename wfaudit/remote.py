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
from typing import Any, NamedTuple

from wfaudit_hookspecs import WfauditError

__all__ = [
    "TOKEN_ENV",
    "RemoteAnswer",
    "RemoteSetupError",
    "ServerRefused",
    "answered",
    "endpoint",
    "read_token",
    "refused",
    "send_trigger",
]

TOKEN_ENV = "WFAUDIT_INGEST_TOKEN"  # noqa: S105 - a variable name, not a token
"""The environment variable holding the ``write`` token, as ``wfaudit serve`` reads it."""

PATH = "/api/v1/triggers"
_RETRY_STATUSES = frozenset({502, 503, 504})
_MAX_ERROR_CHARS = 500
_MAX_ANSWER_BYTES = 1024 * 1024
"""An answer to one trigger is a few hundred bytes; more is not a wfaudit server."""


class ServerRefused(WfauditError):
    """The server answered, and refused the trigger (a ``4xx``): bad input, exit 1."""


class RemoteSetupError(WfauditError):
    """The ``--server`` options cannot work (bad URL, no token): exit 1."""


class RemoteAnswer(NamedTuple):
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
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise RemoteSetupError(
                f"--server needs a write token: set {TOKEN_ENV} or pass --token-file PATH"
            )
    if not token.isprintable() or not token.isascii() or " " in token:
        # Never quoted: it is a secret, even when malformed.
        raise RemoteSetupError("the token holds spaces, control or non-ASCII characters")
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
    if not (parts.hostname or "").isascii():
        raise RemoteSetupError("--server: write the host name in ASCII (its IDNA form)")
    path = urllib.parse.quote(parts.path.rstrip("/"), safe="/:@!$&'()*+,;=-._~%")
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
        left = max(deadline - time.monotonic(), 0.001)
        status: int | None = None
        raw, retry_after = b"", None
        try:
            status, answer_headers, raw = _post(target, body, headers, left)
            retry_after = answer_headers.get("retry-after")
        except (OSError, ValueError) as error:  # ValueError: a malformed answer
            problem = _transport_problem(error)
        if status is not None and status not in _RETRY_STATUSES:
            return RemoteAnswer(status=status, body=_json_body(raw))
        if status is not None:
            problem = answered(RemoteAnswer(status=status, body=_json_body(raw)))
        wait = pause
        if retry_after is not None and retry_after.strip().isdigit():
            wait = max(wait, float(retry_after.strip()))
        if time.monotonic() + wait >= deadline:
            return RemoteAnswer(status=status, body=_json_body(raw), problem=problem)
        time.sleep(wait)
        pause = min(pause * 2, 2.0)


def _post(
    target: urllib.parse.SplitResult, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int, dict[str, str], bytes]:
    """One POST: the status, the headers (lower-case names) and the body.

    Plain HTTP is spoken over a socket here: :mod:`http.client` imports the
    email package, a fifth of this command's start-up (bench/bench_cli.py).
    HTTPS goes through :mod:`http.client` (TLS costs more than that anyway).
    """
    host = target.hostname or ""
    if target.scheme == "https":
        import http.client

        connection = http.client.HTTPSConnection(host, target.port, timeout=timeout)
        try:
            connection.request("POST", target.path, body=body, headers=dict(headers))
            response = connection.getresponse()
            answer = response.read(_MAX_ANSWER_BYTES + 1)
            if len(answer) > _MAX_ANSWER_BYTES:
                raise ValueError("the answer is too long")
            names = {name.lower(): value for name, value in response.getheaders()}
            return response.status, names, answer
        except http.client.HTTPException as error:
            raise ValueError(type(error).__name__) from None
        finally:
            connection.close()
    import socket

    netloc = host if target.port is None else f"{host}:{target.port}"
    if ":" in host:  # an IPv6 literal
        netloc = f"[{host}]" + ("" if target.port is None else f":{target.port}")
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST {target.path} HTTP/1.1\r\nHost: {netloc}\r\n{head}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + body
    deadline = time.monotonic() + timeout
    # The host as bytes: a str would be encoded through the IDNA codec (an import).
    address = (host.encode("ascii"), target.port or 80)
    with socket.create_connection(address, timeout=timeout) as sock:  # type: ignore[arg-type]
        sock.sendall(request)
        chunks: list[bytes] = []
        size = 0
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > _MAX_ANSWER_BYTES:
                raise ValueError("the answer is too long")
            chunks.append(chunk)
    return _parse_answer(b"".join(chunks))


def _parse_answer(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """An HTTP/1.1 answer read to the end of the connection."""
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        raise ValueError("an incomplete answer")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError("not an HTTP answer")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        rest = _unchunked(rest)
    elif headers.get("content-length", "").isdigit():
        rest = rest[: int(headers["content-length"])]
    return int(parts[1]), headers, rest


def _unchunked(data: bytes) -> bytes:
    out: list[bytes] = []
    while True:
        size_line, separator, data = data.partition(b"\r\n")
        if not separator:
            raise ValueError("a malformed chunked answer")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return b"".join(out)
        out.append(data[:size])
        data = data[size + 2 :]


def _transport_problem(error: BaseException) -> str:
    if isinstance(error, ValueError):
        return f"a malformed answer ({error})"
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


def answered(answer: RemoteAnswer) -> str:
    """What the server answered, said in a few words (its status and message)."""
    return f"the server answered {answer.status}{_error_suffix(answer.body)}"


def refused(answer: RemoteAnswer) -> ServerRefused:
    """The error for a ``4xx`` answer: the server's message (which never quotes the
    request), else the status."""
    message = answer.body.get("error")
    if isinstance(message, str) and message:
        if answer.status == 409:
            return ServerRefused(message[:_MAX_ERROR_CHARS])
        return ServerRefused(f"the server refused the trigger ({answer.status}): {message}")
    return ServerRefused(f"the server refused the trigger ({answer.status})")
