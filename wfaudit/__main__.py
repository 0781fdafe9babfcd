"""``python -m wfaudit`` runs the ``wfaudit`` command."""

from wfaudit.cli import main

main()
