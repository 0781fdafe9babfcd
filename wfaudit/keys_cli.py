"""The ``wfaudit keys`` commands: the installation's fingerprint key.

``show`` prints the key's id (never the key), where it comes from, the retired
keys' ids and the id the store records; ``export`` and ``import`` copy the key
to another process or host of the installation; ``rotate`` makes a new key and
keeps the old one as a retired key, so that old fingerprints stay verifiable.
See :mod:`wfaudit.keys` and docs/secrets.md ("Keys").
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import click

from wfaudit_hookspecs import ConfigurationError, StoreError, StoreMeta, hookimpl

from . import render
from .auditor import Auditor
from .cli_support import CliState, json_option, pass_state, store_options
from .keys import (
    KEY_ID_META,
    FingerprintKeys,
    export_text,
    import_keys,
    keyring_target,
    load_keys,
    parse_export,
    rotate_keys,
)
from .retrigger import write_private
from .settings import Settings
from .spool import DeferredStore
from .words import plural

__all__ = ["keys"]


def _settings(state: CliState) -> Settings:
    return Settings.load(store_url=state.store_url, tenant=state.tenant)


def _recorded(auditor: Auditor) -> str | None:
    store: Any = auditor.store
    if isinstance(store, DeferredStore):
        store = store.opened()
    if not isinstance(store, StoreMeta):
        raise StoreError(f"the store at {auditor.store.url} does not record a key id")
    return store.read_meta(KEY_ID_META)


@click.group()
def keys() -> None:
    """The fingerprint key: show its id, export, import, rotate.

    Every process of an installation (orchestrator replicas, `wfaudit serve`,
    operators' machines) must fingerprint secrets with the same key; the store
    records the key's id and refuses writes made with another key.
    """


@keys.command()
@store_options
@json_option
@pass_state
def show(state: CliState, as_json: bool) -> None:
    """Show the key's id and source, the retired keys' ids and the store's key id.

    Exits 1 when the store records another key's id.
    """
    with state.auditor() as auditor:
        ring = auditor.keys
        recorded = _recorded(auditor)
    key_state = (
        "not recorded yet"
        if recorded is None
        else "matches"
        if recorded == ring.id
        else "retired here"
        if recorded in ring.retired_ids
        else "differs"
    )
    if as_json:
        click.echo(
            render.dump_json(
                {
                    "key_id": ring.id,
                    "source": ring.source,
                    "retired_key_ids": list(ring.retired_ids),
                    "store_key_id": recorded,
                    "store": key_state,
                }
            )
        )
    else:
        click.echo(f"key id: {ring.id} ({ring.source})")
        click.echo(f"retired key ids: {', '.join(ring.retired_ids) or 'none'}")
        click.echo(f"store's key id: {recorded or 'none recorded yet'} ({key_state})")
    if key_state == "differs":
        click.echo(
            f"Error: the store's fingerprints are made with key {recorded}, not {ring.id}; "
            "this process cannot write: import the installation's key (wfaudit keys import)",
            err=True,
        )
        sys.exit(1)


@keys.command(name="export")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="Write the keys to this file (mode 0600); '-' writes them to standard output.",
)
@pass_state
def export_keys(state: CliState, output: pathlib.Path) -> None:
    """Write the current and retired keys, for `wfaudit keys import` elsewhere.

    The output holds the keys: it is a secret. Move it over a secure channel
    and delete it once imported.
    """
    settings = _settings(state)
    ring = load_keys(settings.key_file, keyring_target=keyring_target(settings.options))
    text = export_text(ring)
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    try:
        write_private(output, text.encode("ascii"))
    except OSError as error:
        raise ConfigurationError(f"cannot write {output}: {error.strerror or error}") from None
    click.echo(
        f"key {ring.id} and {plural(len(ring.retired), 'retired key')} written to {output} (0600)"
    )


@keys.command(name="import")
@click.argument("source", type=click.Path(dir_okay=False, allow_dash=True, path_type=pathlib.Path))
@pass_state
def import_command(state: CliState, source: pathlib.Path) -> None:
    """Make the key in SOURCE (a `wfaudit keys export` file, '-' for stdin) this
    process's key; the key it had is kept as a retired key."""
    if str(source) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = source.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(f"cannot read the key export {source}: {error}") from None
    current, retired = parse_export(text)
    settings = _settings(state)
    target = keyring_target(settings.options)
    before = load_keys(settings.key_file, keyring_target=target)
    after = import_keys(settings.key_file, current, retired, keyring_target=target)
    _say_changed("imported", before, after)


@keys.command()
@store_options
@json_option
@pass_state
def rotate(state: CliState, as_json: bool) -> None:
    """Make a new key; the old one is kept as a retired key and the store records
    the new key's id.

    Snapshots taken before keep their fingerprints, checked with the retired
    key at retrigger time. Give the new key to every other process of the
    installation (export, import): until then they refuse to write.
    """
    with state.auditor() as auditor:
        auditor.check_key()  # this process holds the store's key: rotating is ours to do
        settings = auditor.settings
    target = keyring_target(settings.options)
    before, after = rotate_keys(settings.key_file, keyring_target=target)
    with state.auditor() as auditor:
        auditor.check_key()  # the store records the new id (the old one is retired here)
    if as_json:
        click.echo(
            render.dump_json(
                {"key_id": after.id, "retired_key_ids": list(after.retired_ids), "rotated": True}
            )
        )
        return
    _say_changed("rotated", before, after)
    click.echo(
        "give the new key to every other process of the installation "
        "(wfaudit keys export --output FILE, then wfaudit keys import FILE there)"
    )


def _say_changed(verb: str, before: FingerprintKeys, after: FingerprintKeys) -> None:
    if before.id == after.id:
        click.echo(f"key {after.id} {verb}: it was this process's key already")
        return
    click.echo(f"key {after.id} {verb} ({after.source}); key {before.id} is kept as a retired key")


COMMANDS: tuple[click.Command, ...] = (keys,)
"""The commands this module adds to ``wfaudit``."""


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add :data:`COMMANDS` to the ``wfaudit`` group."""
    for command in COMMANDS:
        cli.add_command(command)
