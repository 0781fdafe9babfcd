"""A reference an adapter declares names a secret and holds none: the maskers
never mask it, whatever key it sits under (found by a newcomer following
docs/tutorial-adapter.md: ``{"REGISTRY_PASSWORD": {"fromSecret": "registry/password"}}``
was masked by the keyword rule, and the retrigger could not restore it)."""

from __future__ import annotations

import attrs

from wfaudit import Auditor, hookimpl
from wfaudit_hookspecs import SecretReference, TriggerRequest

LITERAL = "hunter2-literal-Registry-Password-9f3a"


class FromSecretAdapter:
    """Declares every ``{"fromSecret": NAME}`` object a reference."""

    @hookimpl
    def wfaudit_pre_trigger(self, request: TriggerRequest) -> TriggerRequest | None:
        env = request.config["env"]
        refs = [
            SecretReference(path=f"/env/{key}", kind="acme-secret", name=value["fromSecret"])
            for key, value in env.items()
            if isinstance(value, dict) and "fromSecret" in value
        ]
        return attrs.evolve(request, format="acme", references=(*request.references, *refs))


def _audit(config: dict[str, object]) -> tuple[dict[str, object], list[str], set[str]]:
    auditor = Auditor.from_url("memory://", plugins=[FromSecretAdapter()], strict=True)
    result = auditor.audit_trigger(
        workflow_id=1, workflow_type="CI", pipeline_id="p", config=config
    )
    assert result.ok, result.error
    snapshot = auditor.get_snapshot(1, "CI")
    assert snapshot is not None
    return (
        snapshot.config,
        [field.path for field in snapshot.manifest.fields],
        {ref.name for ref in snapshot.manifest.references},
    )


def test_a_declared_reference_under_a_secret_key_is_listed_not_masked() -> None:
    config, masked, names = _audit(
        {"env": {"REGISTRY_PASSWORD": {"fromSecret": "registry/password"}}}
    )
    assert config["env"] == {"REGISTRY_PASSWORD": {"fromSecret": "registry/password"}}
    assert masked == []
    assert names == {"registry/password"}


def test_a_literal_secret_beside_a_declared_reference_is_still_masked() -> None:
    config, masked, names = _audit(
        {
            "env": {
                "REGISTRY_PASSWORD": {"fromSecret": "registry/password"},
                "DB_PASSWORD": LITERAL,
            }
        }
    )
    assert masked == ["/env/DB_PASSWORD"]
    assert LITERAL not in repr(config)
    assert names == {"registry/password"}
