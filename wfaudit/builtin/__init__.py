"""The engine's own behaviour, written as plugins (see ``DEFAULT_PLUGINS``)."""
