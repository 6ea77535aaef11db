"""`python -m bolrl.cli`: the `bolrl` command."""

from bolrl.cli import main

main()
