"""The tagger network in plain ``torch.nn`` (``components/``) and batch inference over it.

No Lightning, metrics or checkpoint code here: training wraps these modules
(:mod:`lyricseg.training`), the checkpoint format builds them (:mod:`lyricseg.checkpoint`).
"""
