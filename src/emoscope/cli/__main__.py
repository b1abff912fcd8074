"""``python -m emoscope.cli``."""

from emoscope.cli import main

if __name__ == "__main__":
    main()
