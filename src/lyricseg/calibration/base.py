"""Base class, registry and (de)serialization of post-hoc calibrators.

A calibrator maps the model's logits ``[..., 2]`` to a calibrated ``P(chorus)`` ``[...]``.
It only ever returns probabilities: the decided label stays the argmax of the raw logits
(see :func:`apply_calibration`), so a calibrated ``P(chorus)`` may cross 0.5 without the
label changing. Fitted values live in buffers, so they travel in a ``state_dict`` and in the
plain dict of :meth:`Calibrator.to_dict` that checkpoints keep under ``"calibrator"``: a
``_target_`` config whose ``state`` argument restores them, built back by
:func:`calibrator_from_dict` through :func:`~lyricseg.utils.instantiate.safe_instantiate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import torch
from torch import Tensor, nn

from lyricseg.utils import LyricsegError
from lyricseg.utils.instantiate import UnsafeConfigError, class_path, safe_instantiate

#: Keys of :meth:`Calibrator.to_dict` that describe the calibrator without building it.
DESCRIPTIVE_KEYS = ("name", "selection")


def chorus_margin(logits: Tensor) -> Tensor:
    """Logit margin ``z = logit_chorus - logit_verse``; ``softmax(logits)[..., 1] == sigmoid(z)``.

    Args:
        logits: ``[..., 2]`` raw logits.

    Returns:
        ``[...]`` margins.

    Raises:
        LyricsegError: When the last dimension is not 2.
    """
    if logits.ndim < 1 or logits.shape[-1] != 2:
        raise LyricsegError(
            f"calibrators expect binary logits [..., 2], got shape {tuple(logits.shape)}"
        )
    return logits[..., 1] - logits[..., 0]


def check_fit_inputs(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Validate fitting data and return ``(margins [N] float64, labels [N] float64)``.

    Args:
        logits: ``[N, 2]`` raw logits of real lines.
        labels: ``[N]`` gold labels in ``{0, 1}``.

    Returns:
        Margins and labels as float64 CPU tensors.

    Raises:
        LyricsegError: On empty data, a shape mismatch or labels outside ``{0, 1}``.
    """
    if logits.ndim != 2:
        raise LyricsegError(f"fit expects logits [N, 2], got shape {tuple(logits.shape)}")
    margin = chorus_margin(logits.detach()).double().cpu()
    labels = labels.detach().reshape(-1).cpu()
    if labels.numel() != margin.numel():
        raise LyricsegError(f"fit got {margin.numel()} logit rows but {labels.numel()} labels")
    if margin.numel() == 0:
        raise LyricsegError("cannot fit a calibrator on zero lines")
    if not bool(((labels == 0) | (labels == 1)).all()):
        raise LyricsegError("calibration labels must be 0 (verse) or 1 (chorus)")
    return margin, labels.double()


class Calibrator(nn.Module):
    """Maps logits ``[..., 2]`` to calibrated ``P(chorus)`` ``[...]``; identity until fitted.

    Subclasses keep every fitted value in a buffer listed in ``state_names``, take a
    ``state`` argument that they hand to :meth:`restore` once their buffers exist, and
    implement :meth:`fit` and :meth:`forward`.
    """

    name: ClassVar[str] = "base"
    state_names: ClassVar[tuple[str, ...]] = ()

    def fit(self, logits: Tensor, labels: Tensor, groups: Tensor | None = None) -> Self:
        """Fit on held-out lines and return ``self``.

        Args:
            logits: ``[N, 2]`` raw logits.
            labels: ``[N]`` gold labels in ``{0, 1}``.
            groups: Optional ``[N]`` song index of each line. Calibrators that split the
                lines into folds keep each song in one fold; the others ignore it.
        """
        raise NotImplementedError

    def forward(self, logits: Tensor) -> Tensor:
        """Return calibrated ``P(chorus)`` ``[...]`` for logits ``[..., 2]``."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly description of the fitted calibrator.

        Returns:
            ``{"_target_": dotted class path, "name": short name, "state": {buffer: float or
            list of floats}}``: a config whose ``_target_`` and ``state`` build the fitted
            calibrator again (:func:`calibrator_from_dict`); ``name`` only describes it.
        """
        state: dict[str, Any] = {}
        for key in self.state_names:
            value = getattr(self, key).detach().cpu()
            state[key] = value.item() if value.ndim == 0 else value.tolist()
        return {"_target_": class_path(type(self)), "name": self.name, "state": state}

    def restore(self, state: Mapping[str, Any] | None) -> None:
        """:meth:`load_state` when fitted values are given (a constructor's ``state``)."""
        if state is not None:
            self.load_state(state)

    def load_state(self, state: Mapping[str, Any]) -> Self:
        """Set the fitted buffers from the ``"state"`` part of :meth:`to_dict`.

        Args:
            state: Mapping of buffer name to float or list of floats.

        Returns:
            ``self``.

        Raises:
            LyricsegError: When a buffer is missing or unknown, or a value is not a finite
                number (a list of them for a vector buffer) or fails :meth:`check_state`.
        """
        if not isinstance(state, Mapping) or set(state) != set(self.state_names):
            got = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            raise LyricsegError(
                f"{type(self).__name__} state needs keys {sorted(self.state_names)}, got {got}"
            )
        values = {}
        for key in self.state_names:
            old, value = getattr(self, key), state[key]
            if old.ndim == 0:
                ok = _finite_number(value)
            else:
                ok = isinstance(value, list) and bool(value) and all(map(_finite_number, value))
            if not ok:
                kind = "a finite number" if old.ndim == 0 else "a non-empty list of finite numbers"
                raise LyricsegError(f"{type(self).__name__} state {key!r} must be {kind}")
            values[key] = torch.as_tensor(value, dtype=old.dtype, device=old.device)
        self.check_state(values)
        for key, value in values.items():
            setattr(self, key, value)
        return self

    def check_state(self, state: dict[str, Tensor]) -> None:
        """Refuse fitted values this calibrator cannot use (none here; subclasses add rules).

        Args:
            state: Buffer name to its new value, each checked finite and of the right rank.

        Raises:
            LyricsegError: Naming the value.
        """

    def extra_repr(self) -> str:
        """Scalar fitted values, for ``repr``."""
        state = self.to_dict()["state"]
        return ", ".join(f"{k}={v}" for k, v in state.items() if not isinstance(v, list))


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def calibrator_classes() -> dict[str, type[Calibrator]]:
    """Every defined calibrator that stores fitted values, by dotted class path."""
    found: dict[str, type[Calibrator]] = {}
    todo = [Calibrator]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.state_names:
                found[class_path(sub)] = sub
            todo.append(sub)
    return found


def calibrator_from_dict(
    data: Mapping[str, Any], allowed: Mapping[str, type] | None = None
) -> Calibrator:
    """Rebuild a calibrator from :meth:`Calibrator.to_dict` output.

    ``_target_`` and ``state`` are built by
    :func:`~lyricseg.utils.instantiate.safe_instantiate` with the calibrator classes as the
    allow-list: no module is imported on the data's word. ``name`` and ``selection`` are
    descriptions and left out; any other key is refused.

    Args:
        data: A dict with ``"_target_"`` (dotted path of a :class:`Calibrator` subclass with
            fitted state) and ``"state"``.
        allowed: Classes it may name, by dotted path (default: :func:`calibrator_classes`).

    Returns:
        The fitted calibrator.

    Raises:
        LyricsegError: When the target is not a calibrator with fitted state, or the state
            is missing or malformed.
    """
    allowed = calibrator_classes() if allowed is None else allowed
    if not isinstance(data, Mapping):
        raise LyricsegError(f"a calibrator dict is a mapping, not a {type(data).__name__}")
    target = data.get("_target_")
    if not isinstance(target, str) or target not in allowed:
        raise LyricsegError(f"{target!r} is not a lyricseg calibrator")
    config = {key: value for key, value in data.items() if key not in DESCRIPTIVE_KEYS}
    if not isinstance(config.get("state"), Mapping):
        raise LyricsegError(f"calibrator {target} has no fitted 'state' mapping")
    try:
        return safe_instantiate(config, allowed, "calibrator")
    except UnsafeConfigError as err:
        raise LyricsegError(f"refusing the stored {err}") from None
    except TypeError as err:  # a key the class does not take
        raise LyricsegError(f"cannot build calibrator {target}: {err}") from None


def apply_calibration(
    logits: Tensor, calibrator: Calibrator | None = None
) -> tuple[Tensor, Tensor]:
    """Decide labels from the raw logits and report (calibrated) ``P(chorus)``.

    Args:
        logits: ``[..., 2]`` raw logits.
        calibrator: Fitted calibrator, or ``None`` for the plain softmax.

    Returns:
        ``(preds [...] long, probs [...] float)``: ``preds`` is always the argmax of the raw
        logits, whatever the calibrator does to the probabilities.
    """
    preds = logits.argmax(-1)
    probs = torch.sigmoid(chorus_margin(logits)) if calibrator is None else calibrator(logits)
    return preds, probs
