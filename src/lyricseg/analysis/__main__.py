"""``python -m lyricseg.analysis``: the analyze command (:mod:`lyricseg.commands.analyze`)."""

from lyricseg.commands.analyze import main

main()
