"""Allow `python -m logctl`."""

from logctl.cli import main

main()
