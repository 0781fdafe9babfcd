"""The local trigger agent: a warm process that audits ``wfaudit trigger`` requests.

On by default (``WFAUDIT_AGENT=0`` turns it off). A local ``wfaudit trigger``
spends most of its time importing (SQLAlchemy, the store, the engine, the
plugins) before it audits a few milliseconds' worth; an orchestrator running it
for every run pays that every time (issue #18, bench/bench_cli.py). So the first
trigger audits in process as always and starts, detached, one agent for its
configuration; later triggers read the payload, hand it over a Unix socket and
print the agent's answer -- the same line, the same JSON, the same exit status,
because the agent runs the same code (:func:`wfaudit.cli.audit_and_say`) on the
same store with the same settings.

Safety:

* The socket is ``$WFAUDIT_HOME/agent/KEY.sock`` in a directory of mode 0700
  owned by the user, the socket itself 0600; the client uses it only when the
  directory and the socket belong to it, and the agent answers only peers of its
  own uid (``SO_PEERCRED``). The request holds secrets: it never leaves this
  user's processes, and is never written down (the agent's log, ``KEY.log``,
  holds at most the type of an error that ended it).
* ``KEY`` fingerprints what decides how a trigger is audited: the wfaudit
  version, the Python, the store URL and tenant, the working directory, the
  ``WFAUDIT_*`` (and a few other) environment variables, the settings files
  (path, size, modification time), and the installed distributions (their
  names and versions, their entry points) and ``WFAUDIT_PLUGINS_DIR`` modules
  (the plugin set). Another configuration means another key, so another agent.
* Validity is checked, not hoped for: before every trigger the agent computes
  the fingerprint of its own process again (settings files, plugin set) and
  checks the source files of the modules it runs from outside the installed
  packages (an editable checkout), and that its store is the one it opened (an
  SQLite store: the same file, by device and inode; any SQL store: the same
  schema revision). When anything changed it answers "stale" and exits, and the
  client audits in process (and starts a new agent for the next trigger). It
  checks the same every 30 seconds while idle, and exits after its idle time
  (``WFAUDIT_AGENT_IDLE`` seconds, 600 by default). The fingerprint key files
  are checked before each trigger: when they changed (the first audit creates
  the key, ``wfaudit keys rotate`` replaces it) it reopens its auditors, which
  load the key again.
* Only stores that live outside the process are handed over: an SQLite file or
  PostgreSQL (an in-memory store, or a plugin's store, is audited in process).
* One agent per key: the client that starts one holds ``KEY.lock`` (an
  ``flock``) and hands it to the agent, which keeps it while it runs; a client
  that finds the lock held starts none.
* Any failure to reach the agent, or an agent that does not answer completely,
  means the trigger is audited in process, as without the agent. A request the
  agent got but did not answer (it died, say) is audited again in process:
  audits are idempotent (the same run with the same content is a no-op), so
  nothing is stored twice.
* Durability is the engine's: the agent's auditor spools when the store is down
  (exit 0, the "spooled:" line) and fails with ``--strict``, as in process.

``python -m wfaudit.agent SOCKET KEY`` runs one agent in the foreground (the
client starts it so, detached, with its store URL and tenant in the environment:
a store URL may hold a password, and a command line is readable by every user).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pathlib
import re
import socket
import stat
import struct
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .auditor import Auditor

ENV = "WFAUDIT_AGENT"
IDLE_ENV = "WFAUDIT_AGENT_IDLE"
DEFAULT_IDLE = 600.0
"""Seconds an agent waits for the next trigger before it exits."""

CHECK_EVERY = 30.0
"""Seconds between an idle agent's checks that it is still valid."""

ANSWER_TIMEOUT = 60.0
"""Seconds a client waits for the agent's answer before auditing in process."""

_MAX_SOCKET_PATH = 100  # sockaddr_un holds 108 bytes on Linux, 104 on macOS
_HEADER = struct.Struct("!I")
_MAX_MESSAGE = 64 * 1024 * 1024
_KEYED_ENV_PREFIXES = ("WFAUDIT_", "ENABLE_WORKFLOW_AUDIT", "PROMETHEUS_", "XDG_")
_KEYED_ENV = ("HOME", "PYTHONPATH", "VIRTUAL_ENV")
_STORE_ENV = "WFAUDIT_AGENT_STORE_URL"
_TENANT_ENV = "WFAUDIT_AGENT_TENANT"
"""How the client tells the agent it starts its store and tenant."""
_LOCK_ENV = "WFAUDIT_AGENT_LOCK_FD"
"""The descriptor of ``KEY.lock``, locked by the client that starts the agent."""
_UNKEYED_ENV = frozenset(
    {
        _STORE_ENV,
        _TENANT_ENV,
        _LOCK_ENV,
        ENV,  # whether to use an agent: on (unset, 1, yes ...) whenever one is asked
        "WFAUDIT_AGENT_IDLE",
        "WFAUDIT_INGEST_TOKEN",
        "WFAUDIT_SERVER",
        "WFAUDIT_STORE_PASSWORD",
    }
)
_SQLITE_URL = re.compile(r"sqlite(\+\w+)?://(?P<rest>.*)", re.DOTALL)
_POSTGRES_URL = re.compile(r"postgres(ql)?(\+\w+)?://", re.IGNORECASE)


class Answer(NamedTuple):
    """What the agent printed and the exit status, for the client to repeat."""

    stdout: str
    stderr: str
    code: int

    def say(self) -> None:
        """Print the answer as the command would have, and exit with its status."""
        import click

        if self.stdout:
            click.echo(self.stdout, nl=False)
        if self.stderr:
            click.echo(self.stderr, nl=False, err=True)
        if self.code:
            click.get_current_context().exit(self.code)


def enabled() -> bool:
    """Whether the agent may be used: ``WFAUDIT_AGENT`` (on unless set false), and
    ``WFAUDIT_DEBUG`` unset (tracebacks only come from an in-process audit).

    :raises ConfigurationError: ``WFAUDIT_AGENT`` is not a boolean.
    """
    from wfaudit_hookspecs.flags import parse_bool

    wanted = parse_bool(os.environ.get(ENV), ENV, default=True)
    return bool(wanted) and not os.environ.get("WFAUDIT_DEBUG")


def idle_seconds() -> float:
    try:
        return max(1.0, float(os.environ.get(IDLE_ENV) or DEFAULT_IDLE))
    except ValueError:
        return DEFAULT_IDLE


def _home() -> pathlib.Path:
    """The data directory, as :meth:`wfaudit.settings.Settings.load` finds it."""
    explicit = os.environ.get("WFAUDIT_HOME")
    if explicit:
        return pathlib.Path(explicit).expanduser()
    from .settings_file import file_options

    home = file_options().get("home")
    if home:
        return pathlib.Path(str(home)).expanduser()
    from .settings import _user_data_dir

    return pathlib.Path(_user_data_dir())


def sqlite_file(url: str) -> str | None:
    """The file of an SQLite store URL (None: not SQLite, in memory, or a URI)."""
    match = _SQLITE_URL.fullmatch(url)
    if match is None:
        return None
    rest = match.group("rest")
    if not rest.startswith("/"):
        return None
    path = rest[1:].split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return os.path.abspath(path)


def handed_over(url: str | None) -> bool:
    """Whether a trigger on the store at ``url`` may go to an agent (None: the
    settings file's, else the default SQLite store): only a store outside the
    process, an SQLite file or PostgreSQL, whose every opening is the same store."""
    if url is None:
        from .settings_file import file_options

        configured = file_options().get("store_url")
        if not configured:
            return True  # the default store: an SQLite file in the data directory
        url = str(configured)
    return sqlite_file(url) is not None or _POSTGRES_URL.match(url) is not None


def _stat_of(path: str | os.PathLike[str]) -> str:
    try:
        info = os.stat(path)
    except OSError:
        return f"{os.fspath(path)}:-"
    return f"{os.path.abspath(path)}:{info.st_size}:{info.st_mtime_ns}"


def _search_path() -> list[str]:
    """``sys.path`` less the entry Python put first for the script or ``-m`` (the
    command's directory, the agent's none: it runs with ``-P``)."""
    return list(sys.path if sys.flags.safe_path else sys.path[1:])


def _plugin_set() -> list[str]:
    """What says which plugins (and which versions) an engine here would load."""
    found: list[str] = []
    for entry in _search_path():
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in sorted(names):
            if name.endswith((".dist-info", ".egg-info")):
                found.append(f"{entry}/{name}")
                found.append(_stat_of(os.path.join(entry, name, "entry_points.txt")))
            elif name.endswith((".pth", ".egg-link")):
                found.append(_stat_of(os.path.join(entry, name)))
    for directory in os.environ.get("WFAUDIT_PLUGINS_DIR", "").split(os.pathsep):
        if directory:
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                names = []
            found.extend(_stat_of(os.path.join(directory, name)) for name in names)
    return found


def fingerprint(store_url: str | None, tenant: str | None, home: pathlib.Path) -> str:
    """The key of the agent that may audit for this process (module docstring)."""
    from ._version import __version__

    env = {
        name: value
        for name, value in os.environ.items()
        if (name.startswith(_KEYED_ENV_PREFIXES) or name in _KEYED_ENV) and name not in _UNKEYED_ENV
    }
    files = [os.environ.get("WFAUDIT_CONFIG") or "wfaudit.toml", "pyproject.toml"]
    material = {
        "version": __version__,
        "python": sys.executable,
        "uid": os.getuid(),
        "store": store_url,
        "tenant": tenant,
        "cwd": os.getcwd(),
        "home": str(home),
        "env": sorted(env.items()),
        "files": [_stat_of(path) for path in files],
        "plugins": _plugin_set(),
    }
    data = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:24]


def _key_files(home: pathlib.Path) -> list[str]:
    """The fingerprint key files, as they are now: the agent reopens its auditors when
    they change (the first audit creates the key; ``wfaudit keys rotate`` changes it)."""
    from .settings_file import file_options

    files = [home / "fingerprint.key", home / "fingerprint.key.retired"]
    for named in (os.environ.get("WFAUDIT_KEY_FILE"), file_options().get("key_file")):
        if named:
            key_file = pathlib.Path(str(named)).expanduser()
            files += [key_file, key_file.with_name(key_file.name + ".retired")]
    return [_stat_of(path) for path in files]


def _private_dir(home: pathlib.Path) -> pathlib.Path | None:
    """``home/agent``, made 0700 if missing; None unless it is private and ours."""
    directory = home / "agent"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return directory


def _send(sock: socket.socket, message: Mapping[str, Any]) -> None:
    data = json.dumps(message, ensure_ascii=False).encode()
    sock.sendall(_HEADER.pack(len(data)) + data)


def _receive(sock: socket.socket) -> Any:
    header = _read_exactly(sock, _HEADER.size)
    (size,) = _HEADER.unpack(header)
    if size > _MAX_MESSAGE:
        raise ValueError("message too large")
    return json.loads(_read_exactly(sock, size))


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise ConnectionError("closed early")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def hand_over(
    store_url: str | None,
    fields: Mapping[str, Any],
    config: Any,
    strict: bool,
    as_json: bool,
) -> Answer | None:
    """Have the agent audit this trigger: its answer, or None to audit in process.

    None when the agent is off, cannot be used, is stale or does not answer
    completely; :func:`start_pending` then starts one, detached, for the next
    trigger.

    :raises ConfigurationError: ``WFAUDIT_AGENT`` is not a boolean.
    """
    if not enabled() or not handed_over(store_url):
        return None
    home = _home()
    directory = _private_dir(home)
    if directory is None:
        return None
    tenant = fields.get("tenant")
    key = fingerprint(store_url, tenant, home)
    path = directory / f"{key}.sock"
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        return None
    request = {"key": key, "fields": dict(fields), "config": config}
    request.update(strict=strict, as_json=as_json)
    try:
        data = json.dumps(request, ensure_ascii=False).encode()
        # The agent must audit what this process read: a payload JSON would change
        # (YAML's dates or integer keys, NaN) is audited here instead.
        if json.loads(data) != request:
            return None
    except (TypeError, ValueError, RecursionError):
        return None
    answer = _ask(path, key, data)
    if answer is None:
        _pending.append((path, key, store_url, tenant))
    return answer


_pending: list[tuple[pathlib.Path, str, str | None, str | None]] = []
"""The agent :func:`hand_over` found missing, for :func:`start_pending`."""


def start_pending() -> None:
    """Start the agent :func:`hand_over` could not use, for the next trigger: called
    once this trigger is audited in process, so that the agent's start-up does not
    compete with the audit for the processor."""
    while _pending:
        _start(*_pending.pop())


def _ask(path: pathlib.Path, key: str, data: bytes) -> Answer | None:
    try:
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(ANSWER_TIMEOUT)
            sock.connect(str(path))
            sock.sendall(_HEADER.pack(len(data)) + data)
            reply = _receive(sock)
    except (OSError, ValueError):
        return None
    # A stale agent (``{"stale": true}``) or one of another key: audited here.
    if not isinstance(reply, dict) or reply.get("key") != key or reply.get("stale"):
        return None
    try:
        return Answer(str(reply["stdout"]), str(reply["stderr"]), int(reply["code"]))
    except (KeyError, TypeError, ValueError):
        return None


def _start(path: pathlib.Path, key: str, store_url: str | None, tenant: str | None) -> None:
    """Start an agent for ``key``, detached, unless one holds its lock (running, or
    starting); any failure leaves the next trigger in process."""
    import fcntl
    import subprocess

    try:
        lock = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # an agent of this key runs, or another client is starting it
        env = {
            **os.environ,
            _STORE_ENV: store_url or "",
            _TENANT_ENV: tenant or "",
            _LOCK_ENV: str(lock),
        }
        log = os.open(path.with_suffix(".log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                # -P: nothing from the working directory shadows the installed code.
                [sys.executable, "-P", "-m", "wfaudit.agent", str(path), key],
                # Not on the command line, which every user can read (ps): a store URL
                # may hold a password.
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
                close_fds=True,
                pass_fds=(lock,),  # the agent keeps the lock while it runs
            )
        finally:
            os.close(log)
    except OSError:
        pass
    finally:
        os.close(lock)  # the lock stays held by the agent's copy of the descriptor


# -- the agent ------------------------------------------------------------------


class Stale(Exception):
    """The agent no longer matches what it was started for (module docstring)."""


def _installed_roots() -> tuple[str, ...]:
    import sysconfig

    names = ("stdlib", "platstdlib", "purelib", "platlib")
    paths = {sysconfig.get_paths().get(name) for name in names}
    return tuple(os.path.join(path, "") for path in paths if path)


class Agent:
    """One agent: a socket, the auditors it keeps open, and its loop."""

    def __init__(self, path: pathlib.Path, key: str, store_url: str | None, tenant: str | None):
        self.path = path
        self.key = key
        self.store_url = store_url
        self.tenant = tenant
        self.auditors: dict[bool, Auditor] = {}
        self.keys_seen: list[str] = []
        self.store_seen: tuple[Any, ...] | None = None
        self.sources: dict[str, str] = {}
        self._installed = _installed_roots()

    # -- validity

    def check(self) -> None:
        """:raises Stale: the process's configuration, its code or its store changed."""
        self._check_process()
        if self.auditors:
            self._check_store(next(iter(self.auditors.values())))

    def _check_process(self) -> None:
        if fingerprint(self.store_url, self.tenant, _home()) != self.key:
            raise Stale("configuration")
        self._check_sources()

    def _check_store(self, auditor: Auditor) -> None:
        if self._store_identity(auditor) != self.store_seen:
            raise Stale("store")

    def _check_sources(self) -> None:
        """The modules run from outside the installed packages (an editable
        checkout) are the files they were when imported."""
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if not isinstance(file, str) or file.startswith(self._installed):
                continue
            now = _stat_of(file)
            seen = self.sources.setdefault(file, now)
            if seen != now:
                raise Stale("code")

    def _store_identity(self, auditor: Auditor) -> tuple[Any, ...]:
        """The store file (SQLite: device and inode) and schema revision it has now."""
        from wfaudit_hookspecs import StoreProxy, StoreSchema

        url = self.resolved_url()
        file = sqlite_file(url)
        if file is None:
            where: tuple[Any, ...] = (url,)
        else:
            try:
                info = os.stat(file)
            except OSError:
                raise Stale("store file") from None
            where = (info.st_dev, info.st_ino)
        store: Any = auditor.store
        while isinstance(store, StoreProxy):
            store = store.wrapped
        revision = store.current_revision() if isinstance(store, StoreSchema) else None
        return (*where, revision)

    def resolved_url(self) -> str:
        if self.store_url is not None:
            return self.store_url
        from .settings import Settings

        return Settings.load().store_url

    # -- auditing

    def auditor(self, strict: bool) -> Auditor:
        """The auditor of the command (strict when asked, else ``WFAUDIT_STRICT`` and
        the settings decide), its store checked to be the one the agent had.

        :raises Stale: the store is another one, or of another schema revision.
        """
        keys = _key_files(_home())
        if keys != self.keys_seen:
            self.close()
            self.keys_seen = keys
        auditor = self.auditors.get(strict)
        if auditor is not None:
            self._check_store(auditor)
            return auditor
        from .cli_support import CliState

        state = CliState(store_url=self.store_url, tenant=self.tenant)
        auditor = state.auditor(strict=strict or None, create=True)
        self.auditors[strict] = auditor
        identity = self._store_identity(auditor)
        if self.store_seen is None:
            self.store_seen = identity
        elif identity != self.store_seen:
            raise Stale("store")
        return auditor

    def answer(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Run one trigger as the command does; what it printed and its exit status.

        :raises Stale: the agent no longer matches its key or its store.
        """
        import click

        from wfaudit_hookspecs import WfauditError

        from .cli_support import _one_line_outcome, audit_and_say

        self._check_process()
        auditor = self.auditor(bool(request["strict"]))
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                with _one_line_outcome():
                    audit_and_say(
                        auditor,
                        dict(request["fields"]),
                        request["config"],
                        bool(request["as_json"]),
                    )
            except WfauditError as exc:  # as WfauditGroup says it
                click.echo(f"Error: {exc}", err=True)
                code = 1
            except Exception as exc:
                click.echo(
                    f"Error: unexpected {type(exc).__name__}; run with WFAUDIT_DEBUG=1 for details",
                    err=True,
                )
                code = 70
        return {"key": self.key, "stdout": out.getvalue(), "stderr": err.getvalue(), "code": code}

    def serve(self, idle: float, lock: int | None = None) -> None:
        """Answer triggers one at a time until ``idle`` seconds pass without one, or
        until the agent is stale.

        :param lock: the descriptor of ``KEY.lock``, locked already (by the client
            that started the agent); None to lock it here.
        """
        import fcntl

        if lock is None:
            lock = os.open(self.path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(lock)
                return  # another agent has this key
        try:
            try:
                self.check()  # started for a configuration that is already gone
                # Warm: the engine imported and the store opened before the first
                # trigger comes (and a store that cannot be opened gets no agent).
                self.auditor(strict=False)
            except Exception:
                return
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # a dead agent's
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old_umask = os.umask(0o177)
            try:
                listener.bind(str(self.path))
            finally:
                os.umask(old_umask)
            listener.listen(64)
            listener.settimeout(min(idle, CHECK_EVERY))
            bound = self.path.stat().st_ino
            try:
                self._loop(listener, idle)
            finally:
                listener.close()
                with contextlib.suppress(OSError):
                    if self.path.stat().st_ino == bound:
                        self.path.unlink()
        finally:
            self.close()
            os.close(lock)

    def close(self) -> None:
        for auditor in self.auditors.values():
            with contextlib.suppress(Exception):
                auditor.close()
        self.auditors.clear()

    def _loop(self, listener: socket.socket, idle: float) -> None:
        last = time.monotonic()
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if time.monotonic() - last >= idle:
                    return
                try:
                    self.check()
                except Stale:
                    return
                except Exception:  # a store that cannot be read: no longer trusted
                    return
                continue
            last = time.monotonic()
            with conn:
                conn.settimeout(ANSWER_TIMEOUT)
                if not _same_user(conn):
                    continue
                try:
                    request = _receive(conn)
                except (OSError, ValueError):
                    continue
                if not isinstance(request, dict):
                    continue
                if request.get("stop"):
                    with contextlib.suppress(OSError):
                        _send(conn, {"key": self.key, "stopped": True})
                    return
                if request.get("key") != self.key:
                    reply: dict[str, Any] = {"key": None}  # the client audits in process
                else:
                    try:
                        reply = self.answer(request)
                    except (KeyError, TypeError):
                        reply = {"key": None}
                    except Exception:  # Stale, or a store that cannot be checked
                        # Nothing was audited: the client audits in process, and
                        # this agent makes way for one that matches.
                        listener.close()
                        with contextlib.suppress(OSError):
                            _send(conn, {"key": self.key, "stale": True})
                        return
                with contextlib.suppress(OSError):
                    _send(conn, reply)


def _same_user(conn: socket.socket) -> bool:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # not Linux: the 0700 directory and 0600 socket keep others out
        return True
    creds = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


def stop_all(home: pathlib.Path) -> int:
    """Ask every agent of ``home`` to exit (tests, ``WFAUDIT_AGENT`` turned off): how many did."""
    stopped = 0
    directory = home / "agent"
    for path in sorted(directory.glob("*.sock")) if directory.is_dir() else []:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(10)
                sock.connect(str(path))
                _send(sock, {"stop": True})
                reply = _receive(sock)
        except (OSError, ValueError):
            continue
        if isinstance(reply, dict) and reply.get("stopped"):
            stopped += 1
    return stopped


def processes(home: pathlib.Path) -> list[int]:
    """The process ids of the agents of ``home``, those not listening yet included
    (read from /proc: empty where there is none). For tests and benchmarks that must
    know every agent is gone, where :func:`stop_all` reaches only the listening ones."""
    found = []
    proc = pathlib.Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"wfaudit.agent" in args and any(str(home).encode() in arg for arg in args):
            found.append(int(entry.name))
    return found


def _let_the_client_finish(longest: float = 5.0) -> None:
    """Wait (``longest`` seconds at most) for the command that started this agent to
    exit: the agent's start-up (the engine's imports, the store) then does not compete
    for the processor with the end of that command."""
    client = os.getppid()
    deadline = time.monotonic() + longest
    while os.getppid() == client and time.monotonic() < deadline:
        time.sleep(0.005)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        sys.stderr.write("usage: python -m wfaudit.agent SOCKET KEY\n")
        return 2
    path, key = args
    store_url = os.environ.pop(_STORE_ENV, "") or None
    tenant = os.environ.pop(_TENANT_ENV, "") or None
    lock_fd = os.environ.pop(_LOCK_ENV, "")
    lock = int(lock_fd) if lock_fd.isdigit() else None
    if lock is not None:
        _let_the_client_finish()
    # The log (standard error) gets one line of ours, never what a warning, a log
    # record or a traceback would say: it may quote a store URL or a request's data.
    # What a trigger prints goes to its answer (Agent.answer), as in process.
    log = sys.stderr
    with open(os.devnull, "w", encoding="utf-8") as sink:
        sys.stderr = sink
        try:
            Agent(pathlib.Path(path), key, store_url, tenant).serve(idle_seconds(), lock)
        except Exception as exc:
            log.write(f"wfaudit agent {key}: ended by {type(exc).__name__}\n")
            return 1
        finally:
            sys.stderr = log
    return 0


if __name__ == "__main__":
    sys.exit(main())
