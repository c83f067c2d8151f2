"""Parametric calibrators on the logit margin ``z = logit_chorus - logit_verse``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from lyricseg.calibration.base import Calibrator, check_fit_inputs, chorus_margin
from lyricseg.utils import LyricsegError, get_logger

log = get_logger(__name__)

_GOLDEN = (math.sqrt(5) - 1) / 2


class TemperatureScaler(Calibrator):
    """``P(chorus) = sigmoid(z / T)`` with one temperature ``T > 0`` fitted by NLL.

    The negative log-likelihood is convex in ``1 / T``, hence unimodal in ``log T``; a
    golden-section search over ``log T`` within the bounds finds its minimum without
    diverging on separable data.

    Args:
        min_temperature: Lower bound of the search.
        max_temperature: Upper bound of the search.
        iterations: Golden-section steps (80 shrink the bracket by about 1e-17).
        state: Fitted values to restore (the ``"state"`` of :meth:`~Calibrator.to_dict`).
    """

    name: ClassVar[str] = "temperature"
    state_names: ClassVar[tuple[str, ...]] = ("temperature",)

    def __init__(
        self,
        min_temperature: float = 0.05,
        max_temperature: float = 20.0,
        iterations: int = 80,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not 0 < min_temperature < max_temperature:
            raise LyricsegError(
                f"need 0 < min_temperature < max_temperature, got {min_temperature}, "
                f"{max_temperature}"
            )
        self.min_temperature = float(min_temperature)
        self.max_temperature = float(max_temperature)
        self.iterations = int(iterations)
        self.register_buffer("temperature", torch.tensor(1.0))
        self.restore(state)

    def check_state(self, state: dict[str, Tensor]) -> None:
        """Refuse a temperature that is not positive."""
        if not state["temperature"].item() > 0:
            raise LyricsegError(f"temperature must be > 0, got {state['temperature'].item()}")

    def fit(self, logits: Tensor, labels: Tensor, groups: Tensor | None = None) -> Self:
        """Fit ``T`` on logits ``[N, 2]`` and labels ``[N]``.

        ``groups`` is ignored: the fit uses every line alike.

        Returns:
            ``self``.
        """
        margin_t, y_t = check_fit_inputs(logits, labels)
        # numpy keeps the many tiny evaluations free of thread start-up costs
        margin, y = margin_t.numpy(), y_t.numpy()

        def nll(log_t: float) -> float:
            scaled = margin * math.exp(-log_t)
            return float(np.mean(np.logaddexp(0.0, scaled) - y * scaled))

        lo, hi = math.log(self.min_temperature), math.log(self.max_temperature)
        a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
        fa, fb = nll(a), nll(b)
        for _ in range(self.iterations):
            if fa <= fb:
                hi, b, fb = b, a, fa
                a = hi - _GOLDEN * (hi - lo)
                fa = nll(a)
            else:
                lo, a, fa = a, b, fb
                b = lo + _GOLDEN * (hi - lo)
                fb = nll(b)
        self.temperature.fill_(math.exp((lo + hi) / 2))
        log.info("temperature scaling fitted on %d lines: T=%.4f", y.size, self.temperature)
        return self

    def forward(self, logits: Tensor) -> Tensor:
        """Return calibrated ``P(chorus)`` ``[...]`` for logits ``[..., 2]``."""
        return torch.sigmoid(chorus_margin(logits) / self.temperature.to(logits.dtype))


class PlattScaler(Calibrator):
    """``P(chorus) = sigmoid(a * z + b)``, a logistic regression on the margin.

    Fitted by L-BFGS on the cross-entropy; with ``smooth_targets`` the 0/1 targets become
    ``1 / (N_verse + 2)`` and ``(N_chorus + 1) / (N_chorus + 2)`` (Platt's prior correction),
    which keeps ``a`` finite on separable data.

    Args:
        smooth_targets: Use Platt's smoothed targets.
        max_iter: L-BFGS iteration cap.
        state: Fitted values to restore (the ``"state"`` of :meth:`~Calibrator.to_dict`).
    """

    name: ClassVar[str] = "platt"
    state_names: ClassVar[tuple[str, ...]] = ("a", "b")

    def __init__(
        self,
        smooth_targets: bool = True,
        max_iter: int = 200,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.smooth_targets = bool(smooth_targets)
        self.max_iter = int(max_iter)
        self.register_buffer("a", torch.tensor(1.0))
        self.register_buffer("b", torch.tensor(0.0))
        self.restore(state)

    def fit(self, logits: Tensor, labels: Tensor, groups: Tensor | None = None) -> Self:
        """Fit ``a`` and ``b`` on logits ``[N, 2]`` and labels ``[N]``.

        ``groups`` is ignored: the fit uses every line alike.

        Returns:
            ``self``.
        """
        margin, y = check_fit_inputs(logits, labels)
        if self.smooth_targets:
            n_pos = float(y.sum())
            n_neg = float(y.numel()) - n_pos
            y = torch.where(y > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2)).double()
        params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [params],
            lr=1.0,
            max_iter=self.max_iter,
            tolerance_grad=1e-12,
            tolerance_change=1e-14,
            line_search_fn="strong_wolfe",
        )

        def closure() -> Tensor:
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(params[0] * margin + params[1], y)
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(closure)
        a, b = params.detach().tolist()
        if not (math.isfinite(a) and math.isfinite(b)):
            raise LyricsegError("Platt scaling diverged; check the calibration logits")
        self.a.fill_(a)
        self.b.fill_(b)
        log.info("Platt scaling fitted on %d lines: a=%.4f b=%.4f", y.numel(), a, b)
        return self

    def forward(self, logits: Tensor) -> Tensor:
        """Return calibrated ``P(chorus)`` ``[...]`` for logits ``[..., 2]``."""
        z = chorus_margin(logits)
        return torch.sigmoid(self.a.to(z.dtype) * z + self.b.to(z.dtype))
