"""Every console entry point of lyricseg, one thin module each (the top floor).

==================================  ==========================================================
``lyricseg-train``                  :mod:`lyricseg.commands.train` (also root ``train.py``)
``lyricseg-predict``                :mod:`lyricseg.commands.predict` (also root ``predict.py``)
``lyricseg-serve``                  :mod:`lyricseg.commands.serve` (``python -m lyricseg.serve``)
``python -m lyricseg.analysis``     :mod:`lyricseg.commands.analyze`
``python -m lyricseg.migrate``      :mod:`lyricseg.commands.migrate`
``python -m lyricseg.commands.X``   ``convert`` (headed lyrics to JSONL), ``audit``, ``stanzas``
==================================  ==========================================================

The Hydra commands share :mod:`lyricseg.commands._hydra`, the one place that registers the
configs' resolvers (:mod:`lyricseg.commands.resolvers`). Nothing here is imported by the
library; the commands import their tasks when called, so start-up stays light.
"""
