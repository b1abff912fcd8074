"""``python -m emoscope.cli``."""

from emoscope.cli import main

main()
