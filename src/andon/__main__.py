"""``python -m andon``: the same as the ``andon`` command."""

from andon.cli import main

main()
