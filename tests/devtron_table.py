"""Devtron's ``workflow_config_snapshot`` table, built for tests on real PostgreSQL.

:class:`DevtronTable` creates the table with Devtron's migration (a throw-away
schema of the test database, dropped afterwards) and inserts rows encoded as
Devtron encodes them: Go's ``encoding/json``, ``compress/gzip`` and
``base64.StdEncoding``, run by a small Go program (``go`` 1.19 is on the
development machines). :func:`realistic_requests` makes Devtron-style CI,
pre-CD and post-CD requests as Devtron's sanitiser leaves them (its eight
fields blanked), with the secrets it does not blank (git passwords, secret
step variables, tokens) planted.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import pathlib
import random
import secrets
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import attrs

from wfaudit.demo import demo_requests
from wfaudit.devtron_import import encode_request

PG_URL = os.environ.get("WFAUDIT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

# Devtron's migration for the feature (the reference document's), verbatim but
# for the schema.
DDL = """
CREATE SEQUENCE IF NOT EXISTS id_seq_workflow_config_snapshot;
CREATE TABLE IF NOT EXISTS workflow_config_snapshot (
    id int4 NOT NULL DEFAULT nextval('id_seq_workflow_config_snapshot'::regclass),
    workflow_id int4 NOT NULL,
    workflow_type varchar(20) NOT NULL,
    pipeline_id int4 NOT NULL,
    workflow_request_json text NOT NULL,
    workflow_request_schema_version varchar(20) NOT NULL DEFAULT 'V1',
    created_on timestamptz NOT NULL,
    created_by int4 NOT NULL,
    updated_on timestamptz NOT NULL,
    updated_by int4 NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (workflow_id, workflow_type)
);
CREATE INDEX IF NOT EXISTS idx_workflow_config_snapshot_pipeline_id
ON workflow_config_snapshot(pipeline_id);
CREATE INDEX IF NOT EXISTS idx_workflow_config_snapshot_created_on
ON workflow_config_snapshot(created_on);
"""

GO_ENCODER = """package main

// Encodes each line of standard input (a JSON request) as Devtron stores it:
// json.Marshal of the decoded request, gzip, standard base64.
import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		var request interface{}
		if err := json.Unmarshal(in.Bytes(), &request); err != nil {
			panic(err)
		}
		data, err := json.Marshal(request)
		if err != nil {
			panic(err)
		}
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(data)
		w.Close()
		fmt.Fprintln(out, base64.StdEncoding.EncodeToString(buf.Bytes()))
	}
}
"""

BLANKED = (
    ("blobStorageS3Config", "accessKey"),
    ("blobStorageS3Config", "passkey"),
    ("azureBlobConfig", "accountKey"),
    ("gcpBlobConfig", "credentialFileData"),
    ("dockerPassword",),
    ("accessKey",),
    ("secretKey",),
    ("dockerCert",),
)
"""The eight fields Devtron's sanitiser blanks."""

START = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def blank_like_devtron(request: dict[str, Any]) -> dict[str, Any]:
    """``maskSecretsInWorkflowRequest``: the eight fields emptied, in place."""
    for path in BLANKED:
        if len(path) == 1:  # Go writes every field of the struct: always present
            request[path[0]] = ""
            continue
        holder = request.get(path[0])  # a config pointer: blanked when not nil
        if isinstance(holder, dict):
            holder[path[1]] = ""
    return request


class GoEncoder:
    """Devtron's encoding by Go itself, built once (None when Go is missing)."""

    def __init__(self, directory: pathlib.Path) -> None:
        go = shutil.which("go")
        self.binary: pathlib.Path | None = None
        if go is None:
            return
        source = directory / "encode.go"
        source.write_text(GO_ENCODER, encoding="utf-8")
        env = {
            **os.environ,
            "GOCACHE": str(directory / "gocache"),
            "GOPATH": str(directory / "gopath"),
            "GO111MODULE": "off",
            "GOFLAGS": "",
        }
        subprocess.run(
            [go, "build", "-o", str(directory / "encode"), str(source)],
            check=True,
            env=env,
            capture_output=True,
            timeout=300,
        )
        self.binary = directory / "encode"

    def encode(self, requests: Sequence[Any]) -> list[str]:
        if self.binary is None:
            return [encode_request(request) for request in requests]
        lines = "".join(json.dumps(request) + "\n" for request in requests)
        done = subprocess.run(
            [str(self.binary)], input=lines.encode(), capture_output=True, check=True, timeout=300
        )
        return done.stdout.decode().split()


@attrs.define
class Row:
    workflow_id: int
    workflow_type: str
    pipeline_id: int
    request_json: str
    created_on: dt.datetime
    created_by: int
    schema_version: str = "V1"
    id: int | None = None


class DevtronTable:
    """The table in a schema of its own; :meth:`url` reaches it through ``search_path``."""

    def __init__(self) -> None:
        import psycopg

        self.schema = f"devtron_{secrets.token_hex(5)}"
        self._connection = psycopg.connect(PG_URL, autocommit=True)
        self._connection.execute(f"CREATE SCHEMA {self.schema}")
        self._connection.execute(f"SET search_path TO {self.schema}")
        self._connection.execute(DDL)

    @property
    def url(self) -> str:
        return f"{PG_URL}?options={quote(f'-csearch_path={self.schema}', safe='')}"

    def insert(self, rows: Iterable[Row]) -> None:
        with (
            self._connection.cursor() as cursor,
            cursor.copy(
                "COPY workflow_config_snapshot (id, workflow_id, workflow_type, pipeline_id, "
                "workflow_request_json, workflow_request_schema_version, created_on, created_by, "
                "updated_on, updated_by) FROM STDIN"
            ) as copy_,
        ):
            for row in rows:
                if row.id is None:
                    row.id = self._next_id()
                copy_.write_row(
                    (
                        row.id,
                        row.workflow_id,
                        row.workflow_type,
                        row.pipeline_id,
                        row.request_json,
                        row.schema_version,
                        row.created_on,
                        row.created_by,
                        row.created_on,
                        row.created_by,
                    )
                )

    def _next_id(self) -> int:
        self._last = getattr(self, "_last", 0) + 1
        return self._last

    def count(self) -> int:
        row = self._connection.execute("SELECT count(*) FROM workflow_config_snapshot").fetchone()
        assert row is not None
        return int(row[0])

    def drop(self) -> None:
        self._connection.execute("SET lock_timeout = '10s'")
        self._connection.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        self._connection.close()


def _templates() -> dict[str, dict[str, Any]]:
    ci, pre, post = (r.config for r in demo_requests()[:3])
    return {"CI": ci, "PRE_CD": pre, "POST_CD": post}


@attrs.frozen
class Planted:
    """A generated request and the secrets it carries that Devtron did not blank."""

    workflow_id: int
    workflow_type: str
    pipeline_id: int
    request: dict[str, Any]
    secrets: tuple[str, ...]
    created_on: dt.datetime
    created_by: int


def realistic_requests(count: int, seed: int = 22) -> Iterator[Planted]:
    """``count`` Devtron requests of 40 pipelines: 70 % CI, 15 % pre-CD, 15 % post-CD,
    each with its own commit, run ids, user and secrets, blanked as Devtron does."""
    rng = random.Random(seed)
    templates = _templates()
    for number in range(count):
        roll = rng.random()
        kind = "CI" if roll < 0.7 else "PRE_CD" if roll < 0.85 else "POST_CD"
        request = copy.deepcopy(templates[kind])
        pipeline = 100 + rng.randrange(40)
        workflow_id = 10_000 + number
        user = rng.choice([1, 2, 7, 12, 31])
        planted: list[str] = []
        request["triggeredBy"] = user
        request["pipelineId"] = pipeline
        if kind == "CI":
            request["workflowId"] = workflow_id
            request["workflowNamePrefix"] = f"{workflow_id}-ci-{pipeline}-svc"
            details = request["ciProjectDetails"][0]
            details["commitHash"] = f"{rng.getrandbits(160):040x}"
            password = f"ghp_{rng.getrandbits(160):040x}"
            details["gitOptions"]["password"] = password
            planted.append(password)
            db_password = f"db-{rng.getrandbits(96):024x}"
            request["preCiSteps"][0]["inputVars"][1]["value"] = db_password
            planted.append(db_password)
            sonar = f"sqp_{rng.getrandbits(160):040x}"
            request["runtimeEnvironmentVariables"]["SONAR_TOKEN"] = sonar
            planted.append(sonar)
            request["dockerImageTag"] = f"{details['commitHash'][:8]}-{workflow_id}"
        else:
            request["workflowId"] = 50_000 + number
            request["workflowRunnerId"] = workflow_id
            request["workflowNamePrefix"] = f"{workflow_id}-{kind.lower()}-{pipeline}-svc"
            token = f"tok-{rng.getrandbits(128):032x}"
            for step in request.get("prePostDeploySteps", []):
                for variable in step.get("inputVars", []):
                    if variable["name"].endswith(("PASSWORD", "TOKEN")):
                        variable["value"] = token
                        planted.append(token)
            if "apiToken" in request:
                request["apiToken"] = f"api-{rng.getrandbits(128):032x}"
                planted.append(request["apiToken"])
        blank_like_devtron(request)
        yield Planted(
            workflow_id=workflow_id,
            workflow_type=kind,
            pipeline_id=pipeline,
            request=request,
            secrets=tuple(planted),
            created_on=START + dt.timedelta(minutes=3 * number),
            created_by=user,
        )


def rows_of(planted: Sequence[Planted], encoder: GoEncoder) -> list[Row]:
    encoded = encoder.encode([p.request for p in planted])
    return [
        Row(
            workflow_id=p.workflow_id,
            workflow_type=p.workflow_type,
            pipeline_id=p.pipeline_id,
            request_json=text,
            created_on=p.created_on,
            created_by=p.created_by,
        )
        for p, text in zip(planted, encoded, strict=True)
    ]


def gzip_b64(data: bytes) -> str:
    """Standard base64 of gzip of ``data`` (Python's: for the bad rows' payloads)."""
    import gzip

    return base64.standard_b64encode(gzip.compress(data)).decode()
