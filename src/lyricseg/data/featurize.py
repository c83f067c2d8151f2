"""Featurization of whole corpora, cached on disk by file content and feature configuration."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lyricseg.data.songs import Song, parse_jsonl_bytes
from lyricseg.features import FeatureExtractor
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.io import OutputError, atomic_write
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)

_WORKER_EXTRACTOR: FeatureExtractor | None = None


def _init_worker(extractor: FeatureExtractor) -> None:
    global _WORKER_EXTRACTOR
    torch.set_num_threads(1)
    _WORKER_EXTRACTOR = extractor


Featurized = tuple[np.ndarray, np.ndarray | None]


def _featurize_one(lines: tuple[str, ...]) -> Featurized:
    assert _WORKER_EXTRACTOR is not None
    return _WORKER_EXTRACTOR.extract(lines)


def featurize_songs(
    songs: Sequence[Song], extractor: FeatureExtractor, workers: int = 1
) -> list[Featurized]:
    """Compute the features of many songs, in order.

    Args:
        songs: The songs.
        extractor: The feature extractor.
        workers: Processes to use; 1 computes in this process. Songs are sent to workers
            longest first so that one long song does not finish last.

    Returns:
        One ``(features [n_i, dim] float32, ssm [V, n_i, n_i] uint8 | None)`` pair per song
        (see :meth:`~lyricseg.features.FeatureExtractor.extract`).
    """
    if workers <= 1 or len(songs) < 64:
        return [extractor.extract(song.lines) for song in songs]
    order = sorted(range(len(songs)), key=lambda i: -len(songs[i]))
    # The first song here loads what the views share (the CMU dictionary) once, before the
    # workers fork, instead of once in every worker.
    first = extractor.extract(songs[order[0]].lines)
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(extractor,)) as pool:
        results = pool.map(_featurize_one, [songs[i].lines for i in order[1:]], chunksize=8)
    out: list[Featurized] = [None] * len(songs)  # type: ignore[list-item]
    for i, feats in zip(order, [first, *results], strict=True):
        out[i] = feats
    return out


def load_featurized(
    path: str | Path,
    extractor: FeatureExtractor,
    cache_dir: str | Path | None,
    require_labels: bool = True,
    workers: int = 1,
) -> tuple[list[Song], list[Featurized]]:
    """Read a JSONL corpus and its features, from the cache when it holds them.

    The cache entry is keyed by the SHA-256 of the file's bytes and the extractor's
    signature, so an edited file or a changed feature configuration is recomputed.

    Args:
        path: The JSONL corpus.
        extractor: The feature extractor.
        cache_dir: Where cached features live; None disables the cache.
        require_labels: Whether every song must carry labels.
        workers: Processes for featurization on a cache miss.

    Returns:
        The songs and their ``(features, ssm)`` pairs (see :func:`featurize_songs`).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LyricsegError(f"cannot read {path}: {err.strerror}") from None
    songs = parse_jsonl_bytes(data, str(path), require_labels)
    cache_file = None
    if cache_dir is not None:
        key = hashlib.sha256(data).hexdigest()[:16]
        cache_file = Path(cache_dir) / f"{path.stem}-{key}-{extractor.signature()}.pt"
        if cache_file.exists():
            try:
                cached = torch.load(cache_file, weights_only=True)
                _check_cached(cached, songs, extractor)
                return songs, [(f.numpy(), None if s is None else s.numpy()) for f, s in cached]
            except Exception as err:  # a truncated, foreign or damaged file: recompute it
                log.warning("Ignoring unusable feature cache %s (%s)", cache_file, err)
    start = time.perf_counter()
    feats = featurize_songs(songs, extractor, workers)
    log.info(
        "Featurized %s: %d songs, %d lines in %.2f s",
        path.name,
        len(songs),
        sum(len(s) for s in songs),
        time.perf_counter() - start,
    )
    if cache_file is not None:
        _write_cache(cache_file, feats)
    return songs, feats


def _check_cached(cached: object, songs: Sequence[Song], extractor: FeatureExtractor) -> None:
    """Check a cache entry against what ``extractor`` computes for ``songs``.

    Each song's entry must be ``(features [n, dim] float32, all finite, ssm [V, n, n] uint8 or
    None)`` with ``n`` its line count, ``dim`` the extractor's width and ``V`` its SSM views.

    Raises:
        ValueError: Naming the first mismatch.
    """
    if not isinstance(cached, list) or len(cached) != len(songs):
        raise ValueError("its songs do not match the corpus")
    n_views = len(extractor.ssm_views)
    for song, entry in zip(songs, cached, strict=True):
        feats, ssm = entry
        n = len(song)
        if not isinstance(feats, torch.Tensor) or tuple(feats.shape) != (n, extractor.dim):
            shape = tuple(feats.shape) if isinstance(feats, torch.Tensor) else type(feats)
            raise ValueError(f"song '{song.id}': features {shape}, expected {(n, extractor.dim)}")
        if feats.dtype != torch.float32:
            raise ValueError(f"song '{song.id}': features are {feats.dtype}, expected float32")
        if not bool(torch.isfinite(feats).all()):
            raise ValueError(f"song '{song.id}': non-finite features")
        expected = (n_views, n, n) if n_views else None
        got = tuple(ssm.shape) if isinstance(ssm, torch.Tensor) else ssm
        if got != expected or (ssm is not None and ssm.dtype != torch.uint8):
            raise ValueError(f"song '{song.id}': SSMs {got}, expected {expected} uint8")


#: Cache folders that could not be written in this process (full, read-only, ...).
_UNWRITABLE: set[Path] = set()


def _write_cache(cache_file: Path, feats: list[Featurized]) -> None:
    """Store features in the cache; a cache that cannot be written is skipped with one warning.

    A full or read-only cache folder costs recomputation, never the run: the first failure
    in a process is logged, later writes to that folder are not attempted.
    """
    if cache_file.parent in _UNWRITABLE:
        return
    try:
        with atomic_write(cache_file, "wb") as handle:
            torch.save(
                [
                    (torch.from_numpy(f), None if s is None else torch.from_numpy(s))
                    for f, s in feats
                ],
                handle,
            )
    except (OutputError, OSError) as err:
        if not _UNWRITABLE:
            log.warning("Not caching features: %s; going on without the cache", err)
        _UNWRITABLE.add(cache_file.parent)
