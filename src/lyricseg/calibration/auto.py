"""Pick the calibrator with the lowest held-out ECE."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import torch
from torch import Tensor

from lyricseg.calibration.base import Calibrator, check_fit_inputs
from lyricseg.metrics.functional import binary_ece
from lyricseg.utils import LyricsegError, get_logger

log = get_logger(__name__)

#: A candidate: a calibrator, or a calibrator class built with its defaults.
Candidate = Calibrator | type[Calibrator]


def two_folds(n: int, groups: Tensor | None = None, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Split lines ``0 .. n - 1`` into two folds that never share a group.

    With ``groups``, the groups are shuffled (seeded) and laid end to end; a group joins the
    first fold when its middle falls in the first half of the lines, so the folds hold about
    equal line counts and, with at least two groups, neither is empty. Without ``groups``, the
    folds are the contiguous blocks ``[0, n // 2)`` and ``[n // 2, n)``: lines of one song,
    given in order, stay together except where the cut falls.

    Args:
        n: Number of lines.
        groups: Optional ``[n]`` integer group (song) of each line.
        seed: Seed of the shuffle of groups.

    Returns:
        Two ``[k]`` long tensors of line indices, ascending, together covering every line once.
    """
    idx = torch.arange(n)
    if groups is None:
        return idx[: n // 2], idx[n // 2 :]
    unique, inverse, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    order = torch.randperm(unique.numel(), generator=torch.Generator().manual_seed(seed))
    sizes = counts[order].double()
    middles = sizes.cumsum(0) - sizes / 2
    first = torch.zeros(unique.numel(), dtype=torch.bool)
    first[order[middles < n / 2]] = True
    in_first = first[inverse]
    return idx[in_first], idx[~in_first]


class AutoCalibrator(Calibrator):
    """Fit several calibrators and keep the one with the lowest ECE on held-out lines.

    Selection uses two-fold cross-validation (fit on one fold, ECE on the other, both ways,
    averaged), because in-sample ECE would always favour the isotonic map. Folds never split
    a song: with ``groups`` (the song of each line) they are a seeded random split of the
    songs into two halves of about equal line counts (see :func:`two_folds`); without, they
    are the first and the second half of the lines as given, two contiguous blocks. When a
    fold would hold fewer than ``min_holdout`` lines (or there is a single song) the ECE is
    measured in-sample instead. Ties keep the earlier candidate. The winner is then refitted
    on all lines and held as :attr:`chosen`; :meth:`to_dict` describes the winner itself
    (plus a ``"selection"`` entry), so a restored checkpoint holds the plain winner.

    ``conf/calibration/auto.yaml`` composes ``candidates`` from the other calibration
    configs (``defaults: - /calibration@candidates.<name>: <name>``), so each calibrator's
    settings live in its own file; ``calibration.candidates.<name>=null`` leaves one out.

    Args:
        candidates: Calibrators or calibrator classes, in order (ties keep the earlier); or a
            mapping of labels to them, where None entries are left out.
        n_bins: ECE bins.
        min_holdout: Smallest fold size for cross-validated selection.
        seed: Seed of the split of songs into folds.
    """

    name: ClassVar[str] = "auto"

    def __init__(
        self,
        candidates: Sequence[Candidate] | Mapping[str, Candidate | None],
        n_bins: int = 15,
        min_holdout: int = 50,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(candidates, Mapping):
            candidates = [c for c in candidates.values() if c is not None]
        if not candidates:
            raise LyricsegError("AutoCalibrator needs at least one candidate")
        self.candidates = [self._make(c) for c in candidates]
        self.n_bins = int(n_bins)
        self.min_holdout = int(min_holdout)
        self.seed = int(seed)
        self.chosen: Calibrator | None = None
        self.scores: dict[str, float] = {}

    @staticmethod
    def _make(candidate: Candidate) -> Calibrator:
        if isinstance(candidate, type) and issubclass(candidate, Calibrator):
            if issubclass(candidate, AutoCalibrator) or not candidate.state_names:
                candidate = None  # not a calibrator that fits values of its own
            else:
                candidate = candidate()
        if not isinstance(candidate, Calibrator) or isinstance(candidate, AutoCalibrator):
            raise LyricsegError(
                f"an AutoCalibrator candidate must be a calibrator or a calibrator class, "
                f"not {candidate!r}"
            )
        return candidate

    def _heldout_ece(
        self, candidate: Calibrator, logits: Tensor, labels: Tensor, groups: Tensor | None
    ) -> float:
        folds = two_folds(labels.numel(), groups, self.seed)
        if min(f.numel() for f in folds) < self.min_holdout:
            fitted = copy.deepcopy(candidate).fit(logits, labels)
            return binary_ece(fitted(logits), labels, self.n_bins).item()
        total = 0.0
        for train_idx, eval_idx in (folds, folds[::-1]):
            fitted = copy.deepcopy(candidate).fit(
                logits[train_idx], labels[train_idx], None if groups is None else groups[train_idx]
            )
            total += binary_ece(fitted(logits[eval_idx]), labels[eval_idx], self.n_bins).item()
        return total / 2

    def fit(self, logits: Tensor, labels: Tensor, groups: Tensor | None = None) -> Self:
        """Select and fit the best candidate on held-out ECE.

        Args:
            logits: ``[N, 2]`` raw logits.
            labels: ``[N]`` gold labels in ``{0, 1}``.
            groups: Optional ``[N]`` song index of each line; folds keep songs whole.

        Returns:
            ``self``, holding the refitted winner in :attr:`chosen`.

        Raises:
            LyricsegError: On bad inputs, or ``groups`` of another length than ``labels``.
        """
        check_fit_inputs(logits, labels)
        logits = logits.detach().float().cpu()
        labels = labels.detach().reshape(-1).long().cpu()
        if groups is not None:
            groups = groups.detach().reshape(-1).cpu()
            if groups.numel() != labels.numel():
                raise LyricsegError(
                    f"fit got {groups.numel()} group indices for {labels.numel()} lines"
                )
        scores: dict[str, float] = {}
        best: Calibrator | None = None
        for candidate in self.candidates:
            score = self._heldout_ece(candidate, logits, labels, groups)
            scores[candidate.name] = score
            if best is None or score < scores[best.name]:
                best = candidate
        assert best is not None
        self.scores = scores
        self.chosen = copy.deepcopy(best).fit(logits, labels, groups)
        log.info(
            "calibrator selection by held-out ECE: %s -> %s",
            ", ".join(f"{k}={v:.4f}" for k, v in scores.items()),
            self.chosen.name,
        )
        return self

    def forward(self, logits: Tensor) -> Tensor:
        """Return ``P(chorus)`` ``[...]`` from the chosen calibrator.

        Raises:
            LyricsegError: When called before :meth:`fit`.
        """
        if self.chosen is None:
            raise LyricsegError("AutoCalibrator must be fitted before use")
        return self.chosen(logits)

    def to_dict(self) -> dict[str, Any]:
        """The chosen calibrator's dict plus ``"selection": {"method", "ece"}``.

        Raises:
            LyricsegError: When called before :meth:`fit`.
        """
        if self.chosen is None:
            raise LyricsegError("AutoCalibrator must be fitted before to_dict()")
        out = self.chosen.to_dict()
        out["selection"] = {"method": "auto", "ece": dict(self.scores)}
        return out

    def extra_repr(self) -> str:
        """Candidate names, for ``repr``."""
        return f"candidates={[c.name for c in self.candidates]}"
