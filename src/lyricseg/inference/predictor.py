"""The inference engine: a checkpoint restored for tagging, and the songs it tags.

:class:`Predictor` rebuilds the network, decoder, feature extractor and calibrator from a
checkpoint (no LightningModule, no loss) and turns songs into
:class:`~lyricseg.inference.record.Segmentation` records. :func:`model_path` is where "no
checkpoint named" becomes the model shipped with lyricseg, for every command and the API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lyricseg import checkpoint
from lyricseg.checkpoint import ModelRecord, load_model
from lyricseg.data.batching import SongDataset, collate_songs
from lyricseg.data.conventions import DEFAULT_CONVENTION, convention_index
from lyricseg.data.featurize import featurize_songs
from lyricseg.data.songs import Song
from lyricseg.inference.record import Segmentation
from lyricseg.models.components.ensemble import EnsembleNet
from lyricseg.models.inference import collect_outputs
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)

#: Default limit on lines per song: memory and time grow with the square of a song's length.
MAX_LINES = 5000
#: Songs featurized and tagged per step (bounds memory; one progress-bar step each).
CHUNK_SONGS = 256


def model_path(ckpt: str | Path | None) -> str | Path:
    """The checkpoint to load: ``ckpt``, or the model shipped with lyricseg when None or empty.

    ``ckpt`` comes back as given: a string is not made a ``Path``, which would hide what the
    checkpoint reader refuses by name (``https://...`` would read as ``https:/...``).

    Raises:
        LyricsegError: When no checkpoint is named and this installation ships no model.
    """
    return ckpt if ckpt else checkpoint.pretrained_path()


class PredictionError(LyricsegError):
    """Songs that cannot be tagged as given (too long, or the model produced non-finite output)."""


@dataclass
class Predictor:
    """A restored tagger ready to label songs.

    Only the network, the decoder, the feature extractor and the calibrator are rebuilt (no
    LightningModule, no loss), which keeps a cold start to the imports torch itself needs.

    Attributes:
        net: The tagger network in eval mode.
        decoder: Turns logits into labels (the model's configured decoder).
        features: The feature extractor the model was trained with.
        calibrator: Maps logits ``[..., C]`` to calibrated P(chorus) ``[...]``, or None.
        record: What the checkpoint stores about the model (versions, configs).
        max_lines: Longest song accepted; longer ones are an error naming the song.
        convention: The verse/chorus convention whose head labels the songs, one of
            :attr:`conventions`; None is the model's default (its main corpus's).
    """

    net: Any
    decoder: Any
    features: Any
    calibrator: Any | None
    record: ModelRecord | None = None
    max_lines: int = MAX_LINES
    convention: str | None = None

    def __post_init__(self) -> None:
        self.convention_id = convention_index(self.conventions, self.convention)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | Sequence[str | Path] | None = None,
        max_lines: int = MAX_LINES,
        convention: str | None = None,
    ) -> Predictor:
        """Rebuild everything from a checkpoint (the shipped model when ``path`` is None).

        Several paths make an ensemble (:class:`~lyricseg.models.components.ensemble.EnsembleNet`):
        models trained on the same features with the same decoder, their probabilities
        averaged head by head and their calibrated P(chorus) averaged.

        Raises:
            LyricsegError: When a file is missing, unreadable, unsafe or not a compatible
                lyricseg checkpoint, the models of an ensemble do not fit together, or
                ``convention`` is not one of the model's (the message names them).
        """
        paths = [path] if path is None or isinstance(path, str | Path) else list(path)
        if not paths:
            raise LyricsegError("ckpt=[] names no checkpoint")
        models = [load_model(model_path(p)) for p in paths]
        first = models[0]
        if len(models) == 1:
            return cls(first.net, first.decoder, first.features, first.calibrator, first.record,
                       max_lines, convention)  # fmt: skip

        for model in models[1:]:
            for what in ("features", "decoder"):
                if getattr(model.record, what) != getattr(first.record, what):
                    raise LyricsegError(
                        f"{model.path} and {first.path} were built with other {what}; the "
                        f"models of an ensemble need the same {what}"
                    )
            for what in ("section_classes", "conventions"):
                if getattr(model.net, what, None) != getattr(first.net, what, None):
                    raise LyricsegError(
                        f"{model.path} and {first.path} name other {what.replace('_', ' ')}; "
                        f"the models of an ensemble need the same {what.replace('_', ' ')}"
                    )
        net = EnsembleNet([m.net for m in models], [m.calibrator for m in models]).eval()
        return cls(net, first.decoder, first.features, None, first.record, max_lines, convention)

    @property
    def conventions(self) -> tuple[str, ...]:
        """The model's verse/chorus conventions (from its checkpoint), the default first."""
        return tuple(getattr(self.net, "conventions", None) or (DEFAULT_CONVENTION,))

    @property
    def section_classes(self) -> tuple[str, ...] | None:
        """The model's own section class names (from its checkpoint), None without heads."""
        return getattr(self.net, "section_classes", None)

    def check(self, songs: list[Song]) -> None:
        """Refuse songs longer than :attr:`max_lines`, naming the first one.

        Raises:
            PredictionError: For the first song over the limit.
        """
        for song in songs:
            if len(song) > self.max_lines:
                raise PredictionError(
                    f"song '{song.id}' has {len(song)} lines; the limit is {self.max_lines} "
                    "(max_lines=N raises it, at a cost in memory and time that grows with the "
                    "square of the length)"
                )

    @torch.no_grad()
    def predict(
        self,
        songs: list[Song],
        batch_size: int = 16,
        threshold: float | None = None,
        workers: int = 1,
        progress: Callable[[int], None] | None = None,
    ) -> list[Segmentation]:
        """Label every line of the songs.

        Args:
            songs: Songs to tag (labels, if any, are ignored here).
            batch_size: Songs per forward pass.
            threshold: Optional decision threshold on the (calibrated) P(chorus).
            workers: Processes for featurizing many songs (used from 64 songs on).
            progress: Called with the number of songs done after each chunk.

        Returns:
            One record per song, in order (with ``sections`` and ``section_starts`` from a
            model with section heads).

        Raises:
            PredictionError: For a song over :attr:`max_lines`, or non-finite model output
                (nothing is returned then).
            LyricsegError: For a threshold that is not a number from 0 to 1.
        """
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0.0 <= threshold <= 1.0
        ):
            raise LyricsegError(f"threshold must be a number from 0 to 1, got {threshold!r}")
        self.check(songs)
        records: list[Segmentation] = []
        for start in range(0, len(songs), CHUNK_SONGS):
            chunk = songs[start : start + CHUNK_SONGS]
            records += self._predict_chunk(chunk, batch_size, threshold, workers)
            if progress is not None:
                progress(len(chunk))
        return records

    def _predict_chunk(
        self, songs: list[Song], batch_size: int, threshold: float | None, workers: int
    ) -> list[Segmentation]:
        features = featurize_songs(songs, self.features, workers)
        dataset = SongDataset(songs, features, convention=self.convention_id)
        order = sorted(range(len(songs)), key=lambda i: len(songs[i]))
        batches = (
            collate_songs([dataset[i] for i in order[s : s + batch_size]])
            for s in range(0, len(order), batch_size)
        )
        records: list[Segmentation | None] = [None] * len(songs)
        for out in collect_outputs(self.net, self.decoder, batches):
            song = songs[out["index"]]
            logits = out["logits"]
            if "probs" in out:  # an ensemble's averaged calibrated probabilities
                probs = out["probs"]
            elif self.calibrator is not None:
                probs = self.calibrator(logits)
            else:
                probs = torch.softmax(logits, dim=-1)[:, 1]
            if not bool(torch.isfinite(probs).all()):
                raise PredictionError(
                    f"song '{song.id}': the model produced non-finite probabilities; "
                    "nothing was written (is the checkpoint damaged?)"
                )
            labels = out["preds"] if threshold is None else (probs >= threshold).long()
            sections = starts = None
            if "classes" in out:
                names = self.section_classes
                sections = tuple(names[c] for c in out["classes"].tolist())
                starts = tuple(out["starts"].nonzero().flatten().tolist())
            records[out["index"]] = Segmentation(
                id=song.id,
                lines=tuple(song.lines),
                labels=tuple(labels.tolist()),
                probs=tuple(round(p, 6) for p in probs.tolist()),
                sections=sections,
                section_starts=starts,
                breaks=None if song.breaks is None else tuple(song.breaks),
                given_sections=None if song.sections is None else tuple(song.sections),
            )
        done = [record for record in records if record is not None]
        assert len(done) == len(songs), "collect_outputs returned other songs"
        return done
