"""``python -m lyricseg.serve``: the ``lyricseg-serve`` command (:mod:`lyricseg.commands.serve`)."""

from lyricseg.commands.serve import main

main()
