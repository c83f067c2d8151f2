"""Training: the LightningModule, the DataModule, callbacks, schedulers and the train task.

Everything Lightning-specific lives here, one floor above the plain ``torch.nn`` network in
:mod:`lyricseg.models` and the checkpoint format in :mod:`lyricseg.checkpoint`.
"""
