"""Section scores for one padded batch: line classes, section borders and WindowDiff.

* Class scores: a ``C x C`` confusion matrix over real lines whose gold class is known
  (gold ``-1``, an unmapped or missing header, is left out); accuracy, F1 per class (0 for a
  class with no gold and no predicted line) and macro F1 over the classes present in the
  gold or the predicted lines (scikit-learn's ``average="macro"``).
* Borders: the section starts after line 0 (``start[i] == 1`` for ``i >= 1``). Start flags
  become section ids (``cumsum``), whose changes are exactly the borders, so the boundary
  helpers of :mod:`~lyricseg.metrics.functional.boundary` (exact and tolerant maximum
  one-to-one matching) and :mod:`~lyricseg.metrics.functional.window` (WindowDiff and Pk,
  window from the gold section length) score them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from lyricseg.metrics.functional._common import check_inputs, safe_div
from lyricseg.metrics.functional.boundary import _boundary_compute, _boundary_update
from lyricseg.metrics.functional.window import _window_compute, _window_update
from lyricseg.utils import LyricsegError


def check_section_inputs(
    pred_class: Tensor,
    target_class: Tensor,
    pred_start: Tensor,
    target_start: Tensor,
    mask: Tensor,
    num_classes: int,
) -> None:
    """Validate the section ``update`` inputs.

    Args:
        pred_class: ``[B, T]`` predicted class ids in ``[0, C)``.
        target_class: ``[B, T]`` gold class ids in ``[-1, C)`` (-1 unknown).
        pred_start: ``[B, T]`` bool/integer, 1 where a predicted section starts.
        target_start: ``[B, T]`` bool/integer, 1 where a gold section starts.
        mask: ``[B, T]`` bool, ``True`` on a prefix of each row (real lines).
        num_classes: ``C``.

    Raises:
        LyricsegError: On a shape or dtype mismatch or a class id out of range (real lines).
    """
    check_inputs(pred_class, target_class, mask)
    check_inputs(pred_start, target_start, mask)
    if pred_start.shape != pred_class.shape:
        raise LyricsegError(
            f"metric input 'pred_start' has shape {tuple(pred_start.shape)}, "
            f"expected {tuple(pred_class.shape)} like pred_class"
        )
    pred, gold = pred_class[mask], target_class[mask]
    if bool(((pred < 0) | (pred >= num_classes)).any()):
        raise LyricsegError(f"pred_class holds ids outside [0, {num_classes}) on real lines")
    if bool(((gold < -1) | (gold >= num_classes)).any()):
        raise LyricsegError(f"target_class holds ids outside [-1, {num_classes}) on real lines")


def section_ids(starts: Tensor, mask: Tensor) -> Tensor:
    """Number the sections of each song from its start flags.

    Args:
        starts: ``[B, T]`` bool/integer start flags.
        mask: ``[B, T]`` bool, ``True`` on real lines.

    Returns:
        ``[B, T]`` long: the number of starts up to each line, so consecutive real lines
        differ exactly where line ``i >= 1`` starts a section.
    """
    return ((starts != 0) & mask).long().cumsum(1)


def _section_class_update(
    pred_class: Tensor, target_class: Tensor, mask: Tensor, num_classes: int
) -> Tensor:
    """Count a class confusion matrix over real lines with a known gold class.

    Args:
        pred_class: ``[B, T]`` predicted class ids.
        target_class: ``[B, T]`` gold class ids, -1 unknown.
        mask: ``[B, T]`` bool, ``True`` on real lines.
        num_classes: ``C``.

    Returns:
        ``[C, C]`` long; entry ``[t, p]`` counts lines of gold class ``t`` predicted ``p``.
    """
    known = mask & (target_class >= 0)
    idx = target_class[known].long() * num_classes + pred_class[known].long()
    return torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)


def _section_class_compute(confmat: Tensor, class_names: Sequence[str]) -> dict[str, Tensor]:
    """Accuracy, per-class F1 and macro F1 from a pooled confusion matrix (0 when undefined).

    Args:
        confmat: ``[C, C]`` counts from :func:`_section_class_update`.
        class_names: ``C`` names; key ``section_f1_<name>`` uses ``_`` for ``-``.

    Returns:
        ``section_accuracy``, ``section_macro_f1`` and ``section_f1_<name>`` per class, as
        float64 scalars.
    """
    confmat = confmat.double()
    tp = confmat.diagonal()
    pred_count, true_count = confmat.sum(0), confmat.sum(1)
    f1 = safe_div(2 * tp, pred_count + true_count)
    present = (pred_count + true_count) > 0
    out = {
        "section_accuracy": safe_div(tp.sum(), confmat.sum()),
        "section_macro_f1": safe_div((f1 * present).sum(), present.sum()),
    }
    for i, name in enumerate(class_names):
        out[f"section_f1_{name.replace('-', '_')}"] = f1[i]
    return out


def _section_border_update(
    pred_start: Tensor, target_start: Tensor, mask: Tensor, tolerances: Sequence[int] = (1,)
) -> Tensor:
    """Count section borders (starts after line 0) and their exact and tolerant matches.

    Args:
        pred_start: ``[B, T]`` predicted start flags.
        target_start: ``[B, T]`` gold start flags.
        mask: ``[B, T]`` bool, ``True`` on real lines.
        tolerances: Positive tolerances in lines.

    Returns:
        ``[3 + len(tolerances)]`` long: predicted borders, gold borders, exact matches, then
        maximum one-to-one matches within each tolerance.
    """
    return _boundary_update(
        section_ids(pred_start, mask), section_ids(target_start, mask), mask, tolerances
    )


def _section_border_compute(counts: Tensor, tolerances: Sequence[int] = (1,)) -> dict[str, Tensor]:
    """Border precision, recall and F1 (exact) and F1 within each tolerance.

    Args:
        counts: From :func:`_section_border_update`.
        tolerances: The tolerances of the update, in order.

    Returns:
        ``section_border_precision``, ``section_border_recall``, ``section_border_f1`` and
        ``section_border_f1_tol{w}``, as float64 scalars.
    """
    scores = _boundary_compute(counts, tolerances)
    return {key.replace("boundary_", "section_border_", 1): v for key, v in scores.items()}


def _section_window_update(pred_start: Tensor, target_start: Tensor, mask: Tensor) -> Tensor:
    """Sum per-song WindowDiff and Pk over section borders.

    Args:
        pred_start: ``[B, T]`` predicted start flags.
        target_start: ``[B, T]`` gold start flags.
        mask: ``[B, T]`` bool, ``True`` on a prefix of each row.

    Returns:
        ``[3]`` float64: WindowDiff sum, Pk sum, number of songs with at least two lines.
    """
    return _window_update(section_ids(pred_start, mask), section_ids(target_start, mask), mask)


def _section_window_compute(sums: Tensor) -> dict[str, Tensor]:
    """``section_window_diff`` and ``section_pk``: means over songs (lower is better)."""
    return {f"section_{key}": value for key, value in _window_compute(sums).items()}
