"""The engine's version, in a leaf module: the engine's modules read it here,
never from the package ``wfaudit`` (whose lazy API names every module: importing
it back would close an import cycle, tests/test_architecture.py)."""

__version__ = "0.1.0"
