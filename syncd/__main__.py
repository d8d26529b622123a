"""``python -m syncd`` = the ``ogo-syncd`` command."""

from syncd.cli import main

main()
