"""``python3 -m lib.presets check PRESET …``: the Makefile's parameter check
(:mod:`lib.presets.check`), before anything is installed."""

import sys

from lib.presets.check import main

sys.exit(main(sys.argv[1:]))
