"""Isotonic regression of the label on ``P(chorus)``, applied with torch interpolation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

import torch
from torch import Tensor

from lyricseg.calibration.base import Calibrator, check_fit_inputs, chorus_margin
from lyricseg.utils import LyricsegError, get_logger

log = get_logger(__name__)


def interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Piecewise-linear interpolation like ``numpy.interp`` (constant beyond the ends).

    Args:
        x: Query points, any shape.
        xp: ``[K]`` increasing knots.
        fp: ``[K]`` values at the knots.

    Returns:
        Interpolated values, shape of ``x``, dtype of ``fp``.
    """
    x = x.to(fp.dtype)
    if xp.numel() == 1:
        return fp.expand_as(x).clone()
    idx = torch.searchsorted(xp, x.contiguous(), right=True).clamp(1, xp.numel() - 1)
    x0, x1 = xp[idx - 1], xp[idx]
    f0, f1 = fp[idx - 1], fp[idx]
    width = x1 - x0
    w = torch.where(width > 0, (x - x0) / width.clamp_min(1e-300), torch.zeros_like(x))
    return f0 + w.clamp(0, 1) * (f1 - f0)


class IsotonicCalibrator(Calibrator):
    """Monotone, piecewise-linear map of ``P(chorus)`` fitted by isotonic regression.

    scikit-learn fits the map; its knots are kept as float64 buffers and applied with torch,
    so prediction needs neither scikit-learn nor pickles. Unfitted, the map is the identity.

    Args:
        state: Fitted values to restore (the ``"state"`` of :meth:`~Calibrator.to_dict`).
    """

    name: ClassVar[str] = "isotonic"
    state_names: ClassVar[tuple[str, ...]] = ("x_thresholds", "y_thresholds")

    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.register_buffer("x_thresholds", torch.tensor([0.0, 1.0], dtype=torch.float64))
        self.register_buffer("y_thresholds", torch.tensor([0.0, 1.0], dtype=torch.float64))
        self.restore(state)

    def fit(self, logits: Tensor, labels: Tensor, groups: Tensor | None = None) -> Self:
        """Fit the map on logits ``[N, 2]`` and labels ``[N]``.

        ``groups`` is ignored: the fit uses every line alike.

        Returns:
            ``self``.
        """
        margin, y = check_fit_inputs(logits, labels)
        probs = torch.sigmoid(margin).numpy()
        # Imported here: scikit-learn is needed to fit, not to apply a stored calibrator.
        from sklearn.isotonic import IsotonicRegression

        reg = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        reg.fit(probs, y.numpy())
        self.load_state(
            {"x_thresholds": reg.X_thresholds_.tolist(), "y_thresholds": reg.y_thresholds_.tolist()}
        )
        log.info("isotonic calibration fitted on %d lines: %d knots", y.numel(), self.n_knots)
        return self

    def check_state(self, state: dict[str, Tensor]) -> None:
        """Refuse knots that are not a monotone map of [0, 1] into [0, 1]."""
        x, y = state["x_thresholds"], state["y_thresholds"]
        if x.shape != y.shape:
            raise LyricsegError(f"isotonic map has {x.numel()} x knots but {y.numel()} y values")
        if bool((x.diff() < 0).any() | (y.diff() < 0).any()):
            raise LyricsegError("isotonic map knots must be non-decreasing")
        if bool(((y < 0) | (y > 1)).any()):
            raise LyricsegError("isotonic map values must lie in [0, 1]")

    @property
    def n_knots(self) -> int:
        """Number of interpolation knots."""
        return int(self.x_thresholds.numel())

    def forward(self, logits: Tensor) -> Tensor:
        """Return calibrated ``P(chorus)`` ``[...]`` for logits ``[..., 2]``."""
        probs = torch.sigmoid(chorus_margin(logits).double())
        return interp(probs, self.x_thresholds, self.y_thresholds).to(logits.dtype)

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        # The number of knots depends on the data: take the incoming sizes.
        for key in self.state_names:
            incoming = state_dict.get(prefix + key)
            if incoming is not None:
                setattr(self, key, torch.empty_like(incoming, dtype=torch.float64))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        """Knot count, for ``repr``."""
        return f"n_knots={self.n_knots}"
