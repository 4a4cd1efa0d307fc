"""``python -m objectfs``: the same as the ``objectfs`` command."""

from objectfs.cli import main

main()
