"""docs/api.md cannot fall behind the contract, and the types it documents
refuse what they cannot carry."""

from __future__ import annotations

import difflib
import importlib.util
import pathlib
from types import ModuleType

import pytest

from wfaudit import Auditor, hookimpl
from wfaudit_hookspecs import InvalidRequest, SecretReference, TriggerRequest, to_pointer

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_api", DOCS / "gen_api.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_is_up_to_date() -> None:
    # As after cattrs has run (it did earlier in the suite): annotations resolved
    # to objects must not change what the reference says.
    import attrs

    import wfaudit_hookspecs

    for name in ("Manifest", "SnapshotRecord", "TriggerRequest", "SecretReference"):
        attrs.resolve_types(getattr(wfaudit_hookspecs, name))
    expected = _generator().render()
    actual = (DOCS / "api.md").read_text(encoding="utf-8")
    if actual != expected:
        changed = list(
            difflib.unified_diff(actual.splitlines(), expected.splitlines(), lineterm="", n=1)
        )
        raise AssertionError(
            "docs/api.md is stale: run python docs/gen_api.py\n" + "\n".join(changed[:40])
        )


def test_the_api_reference_names_every_type_a_plugin_meets() -> None:
    names = _generator().documented_names()
    wanted = {
        "MaskContext",
        "SecretReference",
        "SecretRequest",
        "TriggerRequest",
        "RestoreRef",
        "Store",
        "Blob",
        "SnapshotRecord",
        "Snapshot",
        "Manifest",
        "MaskedField",
        "HistoryQuery",
        "AuditEvent",
        "RetryDecision",
        "Failure",
        "AdapterCase",
        "Planted",
        "MemoryStore",
        "to_pointer",
        "parse_pointer",
        "iter_nodes",
        "get_at",
        "set_at",
    }
    assert wanted <= names, f"not in docs/api.md: {sorted(wanted - names)}"


def test_the_api_reference_documents_every_field_of_the_plugin_types() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    for name in ("TriggerRequest", "SecretReference", "Planted", "AdapterCase"):
        section = text.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| `")]
        undocumented = [row.split("`")[1] for row in rows if row.rstrip().endswith("|  |")]
        assert rows and not [u for u in undocumented if u != "trigger_kind"], (
            f"{name}: fields without a description: {undocumented}"
        )


@pytest.mark.parametrize(
    ("path", "says"),
    [
        (("spec", "env", 0), "not a tuple (convert a path tuple with"),
        (["spec", "env"], "not a list (convert a path tuple with"),
        (7, "not a int"),
        ("spec/env", "starting with '/'"),
    ],
)
def test_a_secret_reference_path_must_be_a_pointer(path: object, says: str) -> None:
    with pytest.raises(
        InvalidRequest, match=r"SecretReference\.path must be a JSON pointer"
    ) as info:
        SecretReference(path=path, kind="k8s-secret", name="db")  # type: ignore[arg-type]
    assert says in str(info.value)


def test_a_secret_reference_takes_pointers_and_converted_paths() -> None:
    assert SecretReference(path="", kind="k", name="n").path == ""
    converted = SecretReference(path=to_pointer(("a/b", 0)), kind="k", name="n")
    assert converted.path == "/a~1b/0"
    with pytest.raises(InvalidRequest, match=r"SecretReference\.kind must be a string"):
        SecretReference(path="/a", kind=None, name="n")  # type: ignore[arg-type]


class TupleAdapter:
    """An adapter that hands a path tuple where a pointer belongs."""

    @hookimpl
    def wfaudit_pre_trigger(self, request: TriggerRequest) -> TriggerRequest | None:
        import attrs

        refs = [SecretReference(path=("creds",), kind="k8s-secret", name="x")]  # type: ignore[arg-type]
        return attrs.evolve(request, format="tuple", references=refs)


def test_an_adapter_with_a_tuple_path_fails_with_the_reason(tmp_path: pathlib.Path) -> None:
    """It used to pass here and fail later as an AttributeError in the mask stage."""
    auditor = Auditor.from_url("memory://", plugins=[TupleAdapter()], strict=True)
    with pytest.raises(InvalidRequest, match=r"SecretReference\.path must be a JSON pointer"):
        auditor.audit_trigger(workflow_id=1, workflow_type="CI", pipeline_id=1, config={"a": 1})
    lenient = Auditor.from_url("memory://", plugins=[TupleAdapter()], strict=False)
    result = lenient.audit_trigger(workflow_id=1, workflow_type="CI", pipeline_id=1, config={})
    assert not result.ok and result.error_type == "InvalidRequest"
    assert "SecretReference.path" in (result.error or "")
