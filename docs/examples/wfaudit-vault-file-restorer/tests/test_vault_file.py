"""The vault-file restorer passes wfaudit's restorer conformance kit."""

import json

import pytest

import wfaudit_vault_file
from wfaudit.testing import RestorerConformance
from wfaudit_hookspecs import ConfigurationError, RestoreRef


class TestVaultFileRestorer(RestorerConformance):
    @pytest.fixture
    def restorer(self):
        return wfaudit_vault_file

    def restore_for(self, pointer):
        # What your masker records: where the secret of this path can be found again.
        return RestoreRef(kind="vault-file", target="kit" + pointer.replace("/", "."))

    @pytest.fixture
    def provide(self, tmp_path, monkeypatch):
        rendered = tmp_path / "secrets.json"
        rendered.write_text("{}")
        monkeypatch.setenv("WFAUDIT_VAULT_FILE", str(rendered))

        def provide(pointer, secret, restore):
            data = json.loads(rendered.read_text())
            data[restore.target] = secret
            rendered.write_text(json.dumps(data))

        return provide


def test_an_unreadable_file_is_named_never_quoted(tmp_path, monkeypatch):
    rendered = tmp_path / "secrets.json"
    rendered.write_text('{"db": "Vault-Pa55word-0007"')  # cut short
    monkeypatch.setenv("WFAUDIT_VAULT_FILE", str(rendered))
    with pytest.raises(ConfigurationError, match="cannot be read as JSON") as info:
        wfaudit_vault_file.rendered_secrets()
    assert "Vault-Pa55word-0007" not in str(info.value)
