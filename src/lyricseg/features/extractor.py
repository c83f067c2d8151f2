"""Per-line feature vectors of a song, from its self-similarity matrices.

:class:`FeatureExtractor` runs every configured view, reduces each SSM with
:mod:`lyricseg.features.summaries`, and appends position, line-length and song-level context.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from lyricseg.features.summaries import BLOCK_STATS, ROW_STATS, block_statistics, row_statistics
from lyricseg.features.text import OOV_SOUNDS, SongText
from lyricseg.features.views import View

CONTEXT_STATS = (
    "rel_position",
    "is_first",
    "is_last",
    "log_chars",
    "log_words",
    "song_log_lines",
    "song_repeated_share",
    "song_run_max_rel",
)

#: Lines from which a song's views are computed on several threads.
PARALLEL_FROM = 500


def _threads(n_lines: int) -> int:
    """Threads for one song's views: the process's torch thread budget, for long songs."""
    if n_lines < PARALLEL_FROM:
        return 1

    return torch.get_num_threads()


#: Bumped whenever the computation behind a feature changes, so old caches are not reused.
#: 2: lines without any word (``...``, ``♪``) no longer count as repeats of each other.
FEATURE_VERSION = 2


class FeatureExtractor:
    """Turn a song's lines into an ``[n, dim]`` float32 matrix of per-line features.

    Args:
        views: Similarity views by name, each a :class:`~lyricseg.features.views.View`.
        block_views: Names of the views whose thresholded SSM also yields repeated-block
            statistics (all views when None).
        max_chars: Characters of a line looked at; bounds the work on prose-like lines.
        context_view: The view whose blocks give the song-level context features.
        ssm_views: Views whose raw SSMs are also kept (stacked, quantized to uint8) for a
            learned SSM encoder; empty keeps none.
        oov_sounds: How the sound views (``rhyme``, ``phonetic``, ``syllable``) treat words
            the English CMU dictionary does not know, and every word of a song in another
            language: ``spelling`` gives them keys from their spelling
            (:mod:`lyricseg.features.spelling`), ``none`` their raw letters. A stored config
            without it (every model trained before it existed) means ``none``, which is what
            such a model read; ``conf/features/`` says ``spelling``.
    """

    def __init__(
        self,
        views: Mapping[str, View],
        block_views: Sequence[str] | None = None,
        max_chars: int = 160,
        context_view: str = "string",
        ssm_views: Sequence[str] = (),
        oov_sounds: str = "none",
    ):
        if oov_sounds not in OOV_SOUNDS:
            raise ValueError(f"oov_sounds is {oov_sounds!r}; choose one of {', '.join(OOV_SOUNDS)}")
        self.oov_sounds = oov_sounds
        self.views = dict(views)
        self.block_views = list(self.views) if block_views is None else list(block_views)
        unknown = set(self.block_views) - set(self.views)
        if unknown or context_view not in self.block_views:
            raise ValueError(
                f"block_views {sorted(unknown)} / context_view '{context_view}' must name "
                f"configured views {sorted(self.views)}"
            )
        self.max_chars = max_chars
        self.context_view = context_view
        self.ssm_views = list(ssm_views)
        if set(self.ssm_views) - set(self.views):
            raise ValueError(f"ssm_views {self.ssm_views} must name configured views")

    @property
    def names(self) -> list[str]:
        """Feature names, in column order."""
        names = []
        for view in self.views:
            names += [f"{view}/{s}" for s in ROW_STATS]
            if view in self.block_views:
                names += [f"{view}/{s}" for s in BLOCK_STATS]
        return names + list(CONTEXT_STATS)

    @property
    def dim(self) -> int:
        """Number of features per line."""
        return len(self.names)

    def signature(self) -> str:
        """A stable hash of everything that determines the features (for caches)."""
        spec = {
            "version": FEATURE_VERSION,
            "max_chars": self.max_chars,
            "context_view": self.context_view,
            "block_views": self.block_views,
            "ssm_views": self.ssm_views,
            "views": {k: [type(v).__qualname__, vars(v)] for k, v in self.views.items()},
        }
        if self.oov_sounds != "none":  # "none" computes what configs without the key did
            spec["oov_sounds"] = self.oov_sounds
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]

    def __call__(self, lines: Sequence[str]) -> np.ndarray:
        """Per-line features of one song, ``[n, dim]`` float32 (see :meth:`extract`)."""
        return self.extract(lines)[0]

    def extract(self, lines: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Compute the features of one song.

        Args:
            lines: The song's ``n`` non-blank lines.

        Returns:
            ``(features, ssm)``: ``[n, dim]`` float32 per-line features, and the stacked SSMs
            of :attr:`ssm_views` as ``[len(ssm_views), n, n]`` uint8 (similarity × 255), or
            None when no SSM view is configured.
        """
        text = SongText.from_lines(lines, self.max_chars, self.oov_sounds)
        n = len(text)
        kept = np.empty((len(self.ssm_views), n, n), dtype=np.uint8) if self.ssm_views else None

        def summarize(name: str) -> tuple[list[np.ndarray], np.ndarray | None]:
            view = self.views[name]
            ssm = view.ssm(text)
            if name in self.ssm_views:
                ssm.quantized(out=kept[self.ssm_views.index(name)])
            columns, run_max = [row_statistics(ssm, view.threshold)], None
            if name in self.block_views:
                feats, run_max = block_statistics(ssm.thresholded(view.threshold))
                columns.append(feats)
            return columns, run_max

        threads = _threads(n)
        if threads > 1:  # views are independent; their heavy steps release the GIL
            text.phonetic  # noqa: B018 (computed once, before the threads share it)
            with ThreadPoolExecutor(threads) as pool:
                results = dict(zip(self.views, pool.map(summarize, self.views), strict=True))
        else:
            results = {name: summarize(name) for name in self.views}
        columns = [c for name in self.views for c in results[name][0]]
        columns.append(self._context(text, results[self.context_view][1]))
        return np.concatenate(columns, axis=1), kept

    @staticmethod
    def _context(text: SongText, run_max: np.ndarray) -> np.ndarray:
        n = len(text)
        position = np.arange(n, dtype=np.float32) / max(n - 1, 1)
        words = np.array([len(w) for w in text.words], dtype=np.float32)
        repeated = float((run_max >= 2).mean())
        song = [np.log1p(n) / 8.0, repeated, run_max.max() / n]
        return np.column_stack(
            [
                position,
                np.arange(n) == 0,
                np.arange(n) == n - 1,
                np.log1p(text.n_chars) / 5.0,
                np.log1p(words) / 3.0,
                *[np.full(n, v, dtype=np.float32) for v in song],
            ]
        ).astype(np.float32)
