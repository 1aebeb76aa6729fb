"""`python -m bot` runs the bot (the same as `canvasbot run`)."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
