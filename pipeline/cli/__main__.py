"""`python -m pipeline.cli`: the same as the `yanbao` command."""

from pipeline.cli.app import main

main()
