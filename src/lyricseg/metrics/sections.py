"""Section metrics (torchmetrics, fixed-size ``"sum"`` states): classes, borders, WindowDiff.

Every metric takes the same keywords, so a ``MetricCollection`` can be fed at once::

    coll.update(pred_class=..., target_class=..., pred_start=..., target_start=..., mask=...)

all ``[B, T]``: class ids (gold -1 = unknown, left out of the class scores), section start
flags and the real-line mask. Class names and ids come from the ``classes`` every metric
is built with: the section classes of the model being scored (its ``section_classes``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection

from lyricseg.metrics.corpus import _pad
from lyricseg.metrics.functional.sections import (
    _section_border_compute,
    _section_border_update,
    _section_class_compute,
    _section_class_update,
    _section_window_compute,
    _section_window_update,
    check_section_inputs,
)
from lyricseg.utils import LyricsegError

#: The border and segmentation keys of the section metrics, whatever the classes.
SECTION_BORDER_KEYS = (
    "section_border_precision",
    "section_border_recall",
    "section_border_f1",
    "section_border_f1_tol1",
    "section_window_diff",
    "section_pk",
)


def section_metric_keys(classes: Sequence[str]) -> tuple[str, ...]:
    """Keys (without prefix) produced by :func:`build_section_metric_collection`.

    Args:
        classes: The section class names, in class-id order.
    """
    return (
        "section_accuracy",
        "section_macro_f1",
        *(f"section_f1_{name.replace('-', '_')}" for name in classes),
        *SECTION_BORDER_KEYS,
    )


class _SectionMetric(Metric):
    """Common flags and input checks of the section metrics (sum states, no gradients).

    Args:
        classes: The section class names; a class id is an index in this list.
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, classes: Sequence[str], **kwargs) -> None:
        super().__init__(**kwargs)
        if not classes or not all(isinstance(c, str) for c in classes):
            raise LyricsegError(f"section metrics need a list of class names, got {classes!r}")
        self.classes = tuple(classes)
        self.num_classes = len(self.classes)

    def _check(
        self,
        pred_class: Tensor,
        target_class: Tensor,
        pred_start: Tensor,
        target_start: Tensor,
        mask: Tensor,
    ) -> None:
        check_section_inputs(
            pred_class, target_class, pred_start, target_start, mask, self.num_classes
        )


class SectionClassMetrics(_SectionMetric):
    """Line accuracy, F1 per section class and macro F1 over the classes present.

    The pooled ``C x C`` confusion matrix (rows gold, columns predicted, in ``classes``
    order) is available from :meth:`confusion_matrix`.
    """

    def __init__(self, classes: Sequence[str], **kwargs) -> None:
        super().__init__(classes, **kwargs)
        size = self.num_classes
        self.add_state("confmat", torch.zeros(size, size, dtype=torch.long), "sum")

    def update(
        self,
        pred_class: Tensor,
        target_class: Tensor,
        pred_start: Tensor,
        target_start: Tensor,
        mask: Tensor,
    ) -> None:
        """Add one batch.

        Args:
            pred_class: ``[B, T]`` predicted class ids in ``[0, C)``.
            target_class: ``[B, T]`` gold class ids, -1 unknown.
            pred_start: ``[B, T]`` predicted start flags; unused here.
            target_start: ``[B, T]`` gold start flags; unused here.
            mask: ``[B, T]`` bool, ``True`` on real lines.
        """
        self._check(pred_class, target_class, pred_start, target_start, mask)
        self.confmat += _section_class_update(pred_class, target_class, mask, self.num_classes)

    def compute(self) -> dict[str, Tensor]:
        """Return ``section_accuracy``, ``section_macro_f1`` and ``section_f1_<class>``."""
        return _section_class_compute(self.confmat, self.classes)

    def confusion_matrix(self) -> Tensor:
        """The ``[C, C]`` confusion matrix summed over processes (call it on every rank).

        Returns:
            Long tensor; entry ``[t, p]`` counts lines of gold class ``t`` predicted ``p``.
        """
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self.sync_on_compute):
            return self.confmat.clone()


class SectionBorderMetrics(_SectionMetric):
    """Precision, recall and F1 of section borders (starts after line 0), exact and tolerant.

    Args:
        classes: The section class names (class ids are checked against them).
        tolerances: Positive tolerances (lines), reported as ``section_border_f1_tol{w}``.
    """

    def __init__(self, classes: Sequence[str], tolerances: Sequence[int] = (1,), **kwargs) -> None:
        super().__init__(classes, **kwargs)
        if any(int(t) < 1 for t in tolerances):
            raise LyricsegError(f"border tolerances must be >= 1, got {list(tolerances)}")
        self.tolerances = tuple(int(t) for t in tolerances)
        size = 3 + len(self.tolerances)
        self.add_state("counts", torch.zeros(size, dtype=torch.long), dist_reduce_fx="sum")

    def update(
        self,
        pred_class: Tensor,
        target_class: Tensor,
        pred_start: Tensor,
        target_start: Tensor,
        mask: Tensor,
    ) -> None:
        """Add one batch (arguments as in :meth:`SectionClassMetrics.update`)."""
        self._check(pred_class, target_class, pred_start, target_start, mask)
        self.counts += _section_border_update(pred_start, target_start, mask, self.tolerances)

    def compute(self) -> dict[str, Tensor]:
        """Return ``section_border_{precision,recall,f1}`` and ``section_border_f1_tol{w}``."""
        return _section_border_compute(self.counts, self.tolerances)


class SectionWindowMetrics(_SectionMetric):
    """WindowDiff and Pk over section borders per song (window from the gold sections)."""

    def __init__(self, classes: Sequence[str], **kwargs) -> None:
        super().__init__(classes, **kwargs)
        self.add_state("sums", torch.zeros(3, dtype=torch.float64), dist_reduce_fx="sum")

    def update(
        self,
        pred_class: Tensor,
        target_class: Tensor,
        pred_start: Tensor,
        target_start: Tensor,
        mask: Tensor,
    ) -> None:
        """Add one batch (arguments as in :meth:`SectionClassMetrics.update`)."""
        self._check(pred_class, target_class, pred_start, target_start, mask)
        self.sums += _section_window_update(pred_start, target_start, mask)

    def compute(self) -> dict[str, Tensor]:
        """Return ``section_window_diff`` and ``section_pk`` (lower is better)."""
        return _section_window_compute(self.sums)


def build_section_metric_collection(
    prefix: str = "", sync_on_compute: bool = True, *, classes: Sequence[str]
) -> MetricCollection:
    """Build the section metric collection.

    Feed it with ``coll.update(pred_class=..., target_class=..., pred_start=...,
    target_start=..., mask=...)`` and read ``coll.compute()``, a flat dict
    ``{prefix + key: scalar}`` over :func:`section_metric_keys`. The confusion matrix for
    figures is ``coll["section_class"].confusion_matrix()``.

    Args:
        prefix: Prepended to every key, e.g. ``"val/"``.
        sync_on_compute: Sum the states over processes at ``compute()``.
        classes: The section class names in class-id order (a model's ``section_classes``).

    Returns:
        A ``MetricCollection`` of ``section_class``, ``section_border`` (tolerance 1) and
        ``section_window``.
    """
    sync = {"classes": classes, "sync_on_compute": sync_on_compute}
    return MetricCollection(
        {
            "section_class": SectionClassMetrics(**sync),
            "section_border": SectionBorderMetrics(tolerances=(1,), **sync),
            "section_window": SectionWindowMetrics(**sync),
        },
        prefix=prefix,
        compute_groups=False,
    )


def evaluate_sections(
    pred_classes: Sequence[Sequence[int]],
    gold_classes: Sequence[Sequence[int]],
    pred_starts: Sequence[Sequence[int]],
    gold_starts: Sequence[Sequence[int]],
    batch_size: int = 64,
    *,
    classes: Sequence[str],
) -> dict[str, float | int]:
    """Score section predictions given as per-song lists (for ``predict``'s metrics file).

    Args:
        pred_classes: Predicted class id per line, per song.
        gold_classes: Gold class id per line (-1 unknown), per song.
        pred_starts: Predicted start flag (0/1) per line, per song.
        gold_starts: Gold start flag (0/1) per line, per song.
        batch_size: Songs per internal batch (the scores do not depend on it).
        classes: The section class names in class-id order.

    Returns:
        The keys of :func:`section_metric_keys` as floats, then ``n_songs`` and ``n_lines``.

    Raises:
        LyricsegError: When the lists disagree in number of songs or song lengths, or hold
            class ids out of range.
    """
    lists = (pred_classes, gold_classes, pred_starts, gold_starts)
    if len({len(x) for x in lists}) != 1:
        raise LyricsegError(
            "evaluate_sections got "
            + ", ".join(str(len(x)) for x in lists)
            + " songs of predicted classes, gold classes, predicted starts, gold starts; "
            "they must match"
        )
    for i, song in enumerate(zip(*lists, strict=True)):
        if len({len(x) for x in song}) != 1:
            raise LyricsegError(
                f"song {i}: lengths {[len(x) for x in song]} of predicted classes, gold "
                "classes, predicted starts, gold starts; they must match"
            )
    coll = build_section_metric_collection(sync_on_compute=False, classes=classes)
    order = sorted(range(len(pred_classes)), key=lambda i: len(pred_classes[i]))
    for begin in range(0, len(order), batch_size):
        idx = order[begin : begin + batch_size]
        p, t, ps, ts = (_pad([x[i] for i in idx], torch.long) for x in lists)
        lengths = torch.tensor([len(pred_classes[i]) for i in idx])
        mask = torch.arange(p.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        coll.update(pred_class=p, target_class=t, pred_start=ps, target_start=ts, mask=mask)
    scores = {k: float(v) for k, v in coll.compute().items()} if order else {}
    out: dict[str, float | int] = {k: scores.get(k, 0.0) for k in section_metric_keys(classes)}
    out["n_songs"] = len(pred_classes)
    out["n_lines"] = sum(len(x) for x in pred_classes)
    return out
