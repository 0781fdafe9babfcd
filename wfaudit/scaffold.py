"""``wfaudit new-plugin``: the skeleton of a plugin package that passes its own kit.

:func:`write_skeleton` writes ``wfaudit-NAME/`` with a ``pyproject.toml``
(the ``wfaudit`` entry point), the module, a test that runs the kit of its kind,
and a README saying how to try it (``wfaudit --plugins-dir``) and install it.
Each skeleton works as written: a masker of ``NAME_`` + 32 hex digits tokens
(plain, base64 and URL-encoded), an adapter of a small JSON format, a restorer
reading environment variables, and a store that is a copy of the reference
``memory://`` backend under its own scheme.
"""

from __future__ import annotations

import inspect
import pathlib
import re
import shutil
import tempfile

from wfaudit_hookspecs import InvalidRequest

__all__ = ["KINDS", "write_skeleton"]

KINDS = ("masker", "adapter", "restorer", "store")
NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A wfaudit {kind}."
requires-python = ">=3.11"
dependencies = ["wfaudit-hookspecs~=0.1"]

[project.optional-dependencies]
test = ["wfaudit", "pytest"]

[project.entry-points.wfaudit]
{name} = "{module}"

[tool.setuptools]
py-modules = ["{module}"]
"""

_README = """\
# {dist}

A wfaudit {kind}, made by `wfaudit new-plugin {kind} {name}`. {what}

Try it without installing it (from this directory):

```sh
wfaudit --plugins-dir . plugins
python -m pytest tests
```

`wfaudit plugins` lists `{module}` with its hooks; `python -m pytest tests` runs
wfaudit's {kit} conformance kit on it. Then install it, which registers the entry
point `{name}`:

```sh
python -m pip install -e .
```

Guides: the plugin author's guide (`docs/plugin-authors.md`), the {kind} tutorial
and the API reference (`docs/api.md`) in the wfaudit repository.
"""

_MASKER = '''\
"""A wfaudit masker for {name} tokens (``{prefix}_`` and 32 hex digits).

Change :data:`TOKEN` to your token's pattern: ``mask_pattern`` finds it as it is
and in the decoded views of every string (URL-encoded, base64, JSON inside a
string), and marks it on the original text.
"""

from __future__ import annotations

from wfaudit_hookspecs import MaskContext, hookimpl
from wfaudit_hookspecs.views import mask_pattern

TOKEN = r"{prefix}_[0-9a-f]{{32}}"


@hookimpl
def wfaudit_mask(context: MaskContext) -> None:
    """Mark every token in the config's strings, plain or encoded."""
    mask_pattern(context, TOKEN, rule="{name}.token")
'''

_MASKER_TEST = '''\
"""The {name} masker passes wfaudit's masker conformance kit."""

import pytest

import {module}
from wfaudit.testing import MaskerConformance, Planted

TOKEN = "{prefix}_" + "5f2b8c1d9e0a4b7c" * 2


class TestMasker(MaskerConformance):
    @pytest.fixture
    def masker(self):
        return {module}

    @pytest.fixture
    def planted(self):
        return [
            Planted(config={{"env": [{{"name": "TOKEN", "value": TOKEN}}]}}, secrets=(TOKEN,)),
            Planted(config={{"script": f"login --token {{TOKEN}} --quiet"}}, secrets=(TOKEN,)),
        ]
'''

_ADAPTER = '''\
"""A wfaudit adapter for the ``{name}`` payload format.

A payload is ``{{"apiVersion": "{name}/v1", "pipeline": ..., "steps": [...]}}``;
a step's ``{{"fromSecret": NAME}}`` values are references to secrets. Change
:func:`recognise`, the identity and :func:`references` to your format's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import attrs

from wfaudit_hookspecs import SecretReference, TriggerRequest, hookimpl, to_pointer
from wfaudit_hookspecs.pointer import iter_nodes

FORMAT = "{name}"


@hookimpl
def wfaudit_payload_formats(register: Callable[[str, Sequence[str], str], None]) -> None:
    register(FORMAT, ["CI"], "{name} run request")


def recognise(config: object) -> bool:
    return isinstance(config, dict) and config.get("apiVersion") == f"{{FORMAT}}/v1"


def references(config: object) -> Iterator[SecretReference]:
    for path, value in iter_nodes(config):
        if isinstance(value, dict) and isinstance(value.get("fromSecret"), str):
            yield SecretReference(
                path=to_pointer(path), kind="{name}-secret", name=value["fromSecret"]
            )


@hookimpl
def wfaudit_pre_trigger(request: TriggerRequest) -> TriggerRequest | None:
    if request.format not in (None, FORMAT) or not recognise(request.config):
        return None
    return attrs.evolve(
        request,
        format=FORMAT,
        pipeline_id=str(request.config.get("pipeline") or request.pipeline_id),
        references=(*request.references, *references(request.config)),
    )
'''

_ADAPTER_TEST = '''\
"""The {name} adapter passes wfaudit's adapter conformance kit."""

import pytest

import {module}
from wfaudit.testing import AdapterCase, AdapterConformance

PAYLOAD = {{
    "apiVersion": "{name}/v1",
    "pipeline": "payments",
    "steps": [{{"name": "build", "env": {{"TOKEN": {{"fromSecret": "ci-token"}}}}}}],
}}


class TestAdapter(AdapterConformance):
    @pytest.fixture
    def adapter(self):
        return {module}

    @pytest.fixture
    def cases(self):
        return [
            AdapterCase("CI", PAYLOAD, "{name}", references=frozenset({{"/steps/0/env/TOKEN"}}))
        ]
'''

_RESTORER = '''\
"""A wfaudit restorer: secrets from environment variables.

A masked field whose restore reference is ``RestoreRef(kind="{name}",
target=VARIABLE)`` is filled from that variable. Change :func:`lookup` to read
your secret store.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from wfaudit_hookspecs import SecretRequest, Snapshot, hookimpl

KIND = "{name}"


def lookup(target: str) -> str | None:
    return os.environ.get(target)


@hookimpl
def wfaudit_restore_secrets(
    snapshot: Snapshot, requests: Sequence[SecretRequest]
) -> dict[str, str]:
    answers = {{}}
    for request in requests:
        if request.restore is None or request.restore.kind != KIND:
            continue
        secret = lookup(request.restore.target)
        if secret is not None:
            answers[request.key] = secret
    return answers
'''

_RESTORER_TEST = '''\
"""The {name} restorer passes wfaudit's restorer conformance kit."""

import re

import pytest

import {module}
from wfaudit.testing import RestorerConformance
from wfaudit_hookspecs import RestoreRef


class TestRestorer(RestorerConformance):
    @pytest.fixture
    def restorer(self):
        return {module}

    def restore_for(self, pointer):
        return RestoreRef(kind="{name}", target="KIT" + re.sub(r"\\W", "_", pointer).upper())

    @pytest.fixture
    def provide(self, monkeypatch):
        return lambda pointer, secret, restore: monkeypatch.setenv(restore.target, secret)
'''

_STORE_TEST = '''\
"""The {name} store passes wfaudit's store conformance kit."""

import pytest

import {module}
from wfaudit.testing import StoreConformance


class TestStore(StoreConformance):
    @pytest.fixture
    def store(self):
        store = {module}.{store_class}("{name}://")
        yield store
        store.close()
'''

_WHAT = {
    "masker": "It masks tokens of the pattern in `TOKEN`: change it to yours.",
    "adapter": "It recognises a small JSON format: change `recognise` and the identity "
    "to your orchestrator's.",
    "restorer": "It restores secrets from environment variables: change `lookup`.",
    "store": "It keeps everything in memory (a copy of wfaudit's reference backend, "
    "`memory://`): replace the dictionaries with your storage, and keep the kit green.",
}


def _store_module(name: str, store_class: str) -> str:
    from wfaudit.builtin import memory

    source = inspect.getsource(memory)
    body = source.split('"""', 2)[2]  # drop the module docstring
    body = body.replace('SCHEME = "memory"', f'SCHEME = "{name}"')
    body = body.replace("MemoryStore", store_class).replace("memory://", f"{name}://")
    body = body.replace("a memory store", f"a {name} store").replace("no memory store", "no store")
    header = (
        f'"""A wfaudit store for ``{name}://`` URLs.\n\n'
        "Made by ``wfaudit new-plugin store``: a copy of wfaudit's reference backend\n"
        "(``memory://``), which keeps everything in this process's memory. Replace the\n"
        "dictionaries of ``_Data`` with your storage, one method at a time, and run\n"
        'the kit after each.\n"""'
    )
    return header + body


def write_skeleton(kind: str, name: str, directory: pathlib.Path) -> pathlib.Path:
    """Write the package ``wfaudit-NAME`` of a plugin ``kind`` into ``directory``.

    :raises InvalidRequest: an unknown kind, a name that is not lower-case words
        joined by ``-``, or a target that exists already (nothing is written).
    """
    if kind not in KINDS:
        raise InvalidRequest(f"a plugin kind is one of {', '.join(KINDS)}, not {kind!r}")
    bare = name.removeprefix("wfaudit-")
    if not NAME.match(bare):
        raise InvalidRequest(
            f"a plugin name is lower-case letters and digits, words joined by '-' "
            f"(acme-token), not {name!r}"
        )
    dist = f"wfaudit-{bare}"
    module = dist.replace("-", "_")
    store_class = "".join(part.capitalize() for part in bare.split("-")) + "Store"
    target = directory / dist
    if target.exists():
        raise InvalidRequest(f"{target} exists already; choose another name or --dir")
    if not directory.is_dir():
        raise InvalidRequest(f"{directory} is not a directory")
    values = {
        "dist": dist,
        "module": module,
        "name": bare,
        "kind": kind,
        "prefix": bare.replace("-", "_"),
        "store_class": store_class,
        "kit": kind,
        "what": _WHAT[kind],
    }
    code = {
        "masker": _MASKER.format(**values),
        "adapter": _ADAPTER.format(**values),
        "restorer": _RESTORER.format(**values),
        "store": _store_module(bare, store_class) if kind == "store" else "",
    }[kind]
    test = {
        "masker": _MASKER_TEST,
        "adapter": _ADAPTER_TEST,
        "restorer": _RESTORER_TEST,
        "store": _STORE_TEST,
    }[kind].format(**values)
    # Written aside, then moved into place: an error leaves nothing half-written.
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{dist}-", dir=directory))
    try:
        (staging / "tests").mkdir()
        (staging / "pyproject.toml").write_text(_PYPROJECT.format(**values), encoding="utf-8")
        (staging / "README.md").write_text(_README.format(**values), encoding="utf-8")
        (staging / f"{module}.py").write_text(code, encoding="utf-8")
        (staging / "tests" / f"test_{module}.py").write_text(test, encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
