"""``python -m lyricseg.migrate``: the migrate command (:mod:`lyricseg.commands.migrate`)."""

import sys

from lyricseg.commands.migrate import main

sys.exit(main())
