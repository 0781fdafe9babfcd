"""Fixtures of the keyring restorer's tests: an in-memory keyring, never the user's."""

from __future__ import annotations

import keyring
import keyring.backend
import keyring.core
import keyring.errors
import pytest


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend that keeps passwords in a dict, for tests."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}
        self.reads: list[tuple[str, str]] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.reads.append((service, username))
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(f"{service}/{username}")


class BrokenKeyring(MemoryKeyring):
    """A keyring whose backend is unavailable (a locked or missing secret service)."""

    def get_password(self, service: str, username: str) -> str | None:
        self.reads.append((service, username))
        raise keyring.errors.KeyringLocked("the collection is locked")


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    """The keyring for this test: in memory, restored afterwards."""
    backend = MemoryKeyring()
    # Replace the module's backend directly: keyring.get_keyring() would first
    # initialise (and so touch) the real one.
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    return backend


@pytest.fixture
def broken_keyring(monkeypatch: pytest.MonkeyPatch) -> BrokenKeyring:
    backend = BrokenKeyring()
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    return backend
