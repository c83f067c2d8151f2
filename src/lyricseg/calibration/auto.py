"""Pick the calibrator with the lowest held-out ECE."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import torch
from torch import Tensor

from lyricseg.calibration.base import Calibrator, check_fit_inputs
from lyricseg.calibration.isotonic import IsotonicCalibrator
from lyricseg.calibration.scalers import PlattScaler, TemperatureScaler
from lyricseg.metrics.functional import binary_ece
from lyricseg.utils import LyricsegError, get_logger

log = get_logger(__name__)

#: Short names accepted in ``AutoCalibrator(candidates=...)``.
CALIBRATORS: dict[str, type[Calibrator]] = {
    "temperature": TemperatureScaler,
    "platt": PlattScaler,
    "isotonic": IsotonicCalibrator,
}


class AutoCalibrator(Calibrator):
    """Fit several calibrators and keep the one with the lowest ECE on held-out lines.

    Selection uses two-fold cross-validation on a seeded random split of the fitting lines
    (fit on one half, ECE on the other, both ways, averaged), because in-sample ECE would
    always favour the isotonic map. With fewer than ``2 * min_holdout`` lines the ECE is
    measured in-sample instead. Ties keep the earlier candidate. The winner is then refitted
    on all lines and held as :attr:`chosen`; :meth:`to_dict` describes the winner itself
    (plus a ``"selection"`` entry), so a restored checkpoint holds the plain winner.

    Args:
        candidates: Short names (see :data:`CALIBRATORS`) or calibrator instances.
        n_bins: ECE bins.
        min_holdout: Smallest fold size for cross-validated selection.
        seed: Seed of the split.
    """

    name: ClassVar[str] = "auto"

    def __init__(
        self,
        candidates: Sequence[str | Calibrator] = ("temperature", "platt", "isotonic"),
        n_bins: int = 15,
        min_holdout: int = 50,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not candidates:
            raise LyricsegError("AutoCalibrator needs at least one candidate")
        self.candidates = [self._make(c) for c in candidates]
        self.n_bins = int(n_bins)
        self.min_holdout = int(min_holdout)
        self.seed = int(seed)
        self.chosen: Calibrator | None = None
        self.scores: dict[str, float] = {}

    @staticmethod
    def _make(candidate: str | Calibrator) -> Calibrator:
        if isinstance(candidate, Calibrator):
            return candidate
        if candidate not in CALIBRATORS:
            raise LyricsegError(
                f"unknown calibrator {candidate!r}; choose from {sorted(CALIBRATORS)}"
            )
        return CALIBRATORS[candidate]()

    def _heldout_ece(self, candidate: Calibrator, logits: Tensor, labels: Tensor) -> float:
        n = labels.numel()
        if n < 2 * self.min_holdout:
            fitted = copy.deepcopy(candidate).fit(logits, labels)
            return binary_ece(fitted(logits), labels, self.n_bins).item()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        folds = (perm[: n // 2], perm[n // 2 :])
        total = 0.0
        for train_idx, eval_idx in (folds, folds[::-1]):
            fitted = copy.deepcopy(candidate).fit(logits[train_idx], labels[train_idx])
            total += binary_ece(fitted(logits[eval_idx]), labels[eval_idx], self.n_bins).item()
        return total / 2

    def fit(self, logits: Tensor, labels: Tensor) -> Self:
        """Select and fit the best candidate on logits ``[N, 2]`` and labels ``[N]``.

        Returns:
            ``self``, holding the refitted winner in :attr:`chosen`.
        """
        check_fit_inputs(logits, labels)
        logits = logits.detach().float().cpu()
        labels = labels.detach().reshape(-1).long().cpu()
        scores: dict[str, float] = {}
        best: Calibrator | None = None
        for candidate in self.candidates:
            score = self._heldout_ece(candidate, logits, labels)
            scores[candidate.name] = score
            if best is None or score < scores[best.name]:
                best = candidate
        assert best is not None
        self.scores = scores
        self.chosen = copy.deepcopy(best).fit(logits, labels)
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
