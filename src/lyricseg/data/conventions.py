"""Verse/chorus conventions: which corpus follows which, and how a model's list is read.

Corpora disagree on what "chorus" means (one counts post-choruses, hooks and refrains as
chorus, another does not). A model keeps one verse/chorus head per *convention*; each
training song trains its own convention's head, and prediction names the convention it wants.

Corpora are named ``main`` (``data.data_dir``) and each extra folder's name
(:attr:`~lyricseg.training.datamodule.LyricsDataModule.extra_names`). By default the main
corpus follows :data:`DEFAULT_CONVENTION` and each extra corpus its own convention named
after it; a corpus with no verse/chorus labels at all (e.g. stanza breaks only) trains no
head, so by default it joins the main convention. ``data.conventions`` maps corpus names to
convention names to merge or rename them (an extra corpus whose folder is named like another
convention shares it). The main corpus's convention always comes first: it is a model's
default at prediction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from lyricseg.data.songs import Song
from lyricseg.utils.errors import LyricsegError

#: The main corpus's name in ``data.conventions``.
MAIN_CORPUS = "main"
#: The main corpus's convention unless configured, and the one convention of older models.
DEFAULT_CONVENTION = "lyrics"


def has_labels(songs: Sequence[Song]) -> bool:
    """Whether any song carries verse/chorus labels (a known 0/1 on some line)."""
    return any(s.labels is not None and any(y >= 0 for y in s.labels) for s in songs)


def corpus_conventions(
    corpora: Sequence[str],
    labelled: Sequence[bool],
    overrides: Mapping[str, str] | None = None,
) -> tuple[list[str], list[int]]:
    """The convention list and each corpus's convention id.

    Args:
        corpora: Corpus names, the main corpus first (:data:`MAIN_CORPUS`).
        labelled: Whether each corpus has verse/chorus labels (see :func:`has_labels`).
        overrides: Corpus name -> convention name (``data.conventions``).

    Returns:
        ``(conventions, ids)``: distinct convention names, the main corpus's first, in order
        of first use; ``ids[i]`` is corpus ``i``'s index in them.

    Raises:
        LyricsegError: For an override naming no corpus, or a convention name that is not a
            non-empty string.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(corpora))
    if unknown:
        raise LyricsegError(
            f"data.conventions names no corpus {', '.join(map(repr, unknown))}; the corpora "
            f"are {', '.join(corpora)}"
        )
    names: list[str] = []
    for i, corpus in enumerate(corpora):
        if corpus in overrides:
            name = overrides[corpus]
            if not isinstance(name, str) or not name.strip():
                raise LyricsegError(f"data.conventions.{corpus}: {name!r} is not a convention name")
        elif i == 0:
            name = DEFAULT_CONVENTION
        else:  # its own convention; without labels it trains no head: the main one
            name = corpus if labelled[i] else names[0]
        names.append(name)
    conventions = list(dict.fromkeys(names))
    return conventions, [conventions.index(n) for n in names]


def convention_index(conventions: Sequence[str], name: str | None) -> int:
    """Index of a named convention among a model's; None is the model's default (the first).

    Raises:
        LyricsegError: One line naming the valid conventions when ``name`` is not one.
    """
    if name is None:
        return 0
    if name not in conventions:
        raise LyricsegError(
            f"convention={name!r} is not one of this model's verse/chorus conventions: "
            f"{', '.join(conventions)}"
        )
    return list(conventions).index(name)


def label_given_class(
    labels: Sequence[torch.Tensor],
    classes: Sequence[torch.Tensor],
    conventions: Sequence[int],
    n_conventions: int,
    n_classes: int,
    prior: float = 1.0,
) -> list[list[list[float]]]:
    """P(label | section class) per convention, from lines that carry both.

    Counts co-occurrences of each line's verse/chorus label and section class among the
    songs of each convention, with ``prior`` added to every count (a convention whose songs
    never carry both gives 0.5 everywhere: labels and classes decoded independently).

    Args:
        labels: Per song, ``[n]`` long labels (-1 unknown).
        classes: Per song, ``[n]`` long section class ids (-1 unknown).
        conventions: Per song, its convention id.
        n_conventions: Number of conventions ``K``.
        n_classes: Number of section classes ``S``.
        prior: Pseudo-count added to each (class, label) cell.

    Returns:
        ``[K][S][2]`` probabilities (each ``[2]`` row sums to 1).
    """
    counts = torch.full((n_conventions, n_classes, 2), float(prior), dtype=torch.float64)
    for y, c, k in zip(labels, classes, conventions, strict=True):
        known = (y >= 0) & (c >= 0)
        counts[k].index_put_(
            (c[known], y[known]), torch.ones(int(known.sum()), dtype=counts.dtype), accumulate=True
        )
    probs = counts / counts.sum(-1, keepdim=True)
    return [[[float(p) for p in row] for row in conv] for conv in probs]
