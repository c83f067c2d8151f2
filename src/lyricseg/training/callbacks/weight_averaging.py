"""An exponential moving average (EMA) of the tagger network's weights.

Lightning's ``WeightAveraging`` averages the whole LightningModule: its copy also holds the
loss's parameters and stale metric states, and those land in checkpoints' ``state_dict``.
This callback averages ``pl_module.net`` only, the part the model file stores.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import torch
from lightning.pytorch import Callback
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from lyricseg.checkpoint import NET_PREFIX
from lyricseg.utils import get_logger

log = get_logger(__name__)

#: Checkpoint key of the raw (not averaged) network weights and the averaging state.
STATE_KEY = "weight_averaging"


class NetEMA(Callback):
    """Keeps an EMA of the network's weights; validation, checkpoints and the model use it.

    After every optimizer step from ``start_step`` on, ``avg = decay * avg + (1 - decay) * w``
    (the first update copies the weights). The average is swapped in for every validation
    epoch, so the monitored metric, the best epoch and early stopping judge the averaged
    network; checkpoints store it under ``state_dict`` (``best-state.ckpt``, hence the
    calibrated model file ``best.ckpt``, and ``last.ckpt``), with the raw weights and the
    update count under ``weight_averaging`` so that a resume from ``last.ckpt`` continues both.
    When training ends the module holds the average.

    Args:
        decay: Weight of the old average per step; with ~20 steps an epoch, 0.99 averages
            over the last ~5 epochs.
        start_step: Optimizer steps before the average starts following the weights.
    """

    def __init__(self, decay: float = 0.99, start_step: int = 0):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.start_step = start_step
        self.average: AveragedModel | None = None
        self._swapped = False
        self._last_step = 0

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:  # noqa: D102
        if stage == "fit" and self.average is None:
            self.average = AveragedModel(
                pl_module.net,
                multi_avg_fn=get_ema_multi_avg_fn(self.decay),
                use_buffers=True,
            )

    def _pairs(self, net: torch.nn.Module) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        mean = self.average.module
        return zip(
            itertools.chain(mean.parameters(), mean.buffers()),
            itertools.chain(net.parameters(), net.buffers()),
            strict=True,
        )

    def _swap(self, pl_module: Any) -> None:
        with torch.no_grad():
            for mean, live in self._pairs(pl_module.net):
                tmp = mean.detach().clone()
                mean.copy_(live)
                live.copy_(tmp)
        self._swapped = not self._swapped

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:  # noqa: D102
        # global_step counts optimizer steps (it does not move on accumulation-only batches).
        step = trainer.global_step
        if self.average is not None and step > max(self._last_step, self.start_step):
            self.average.update_parameters(pl_module.net)
            self._last_step = step

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:  # noqa: D102
        if self.average is not None and not self._swapped:
            self._swap(pl_module)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:  # noqa: D102
        if self.average is not None and self._swapped:
            self._swap(pl_module)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        """Leave the averaged weights in the module."""
        if self.average is None:
            return
        if not self._swapped:
            self._swap(pl_module)
        self.average = None  # the raw weights are gone from here on
        self._swapped = False

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        """Store the average as the network's weights and the raw ones beside it."""
        if self.average is None:
            return
        state = checkpoint["state_dict"]
        other = {NET_PREFIX + k: v for k, v in self.average.module.state_dict().items()}
        # Whichever side is swapped in, the average goes to state_dict.
        average, raw = (state, other) if self._swapped else (other, state)
        weights = {k: average[k].detach().clone() for k in other}
        checkpoint[STATE_KEY] = {
            "raw": {k: raw[k].detach().clone() for k in other},
            "n_averaged": self.average.n_averaged.detach().clone(),
        }
        state.update(weights)

    def on_load_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        """Resume: the module already holds the average (``state_dict``); restore both."""
        if self.average is None:
            return
        n = len(NET_PREFIX)
        state = checkpoint["state_dict"]
        self.average.module.load_state_dict(
            {k[n:]: v for k, v in state.items() if k[:n] == NET_PREFIX}
        )
        saved = checkpoint.get(STATE_KEY)
        if saved is None:  # a run without averaging: start the average from its weights
            log.info("The checkpoint holds no weight average; it starts from its weights.")
            self.average.n_averaged.fill_(0)
            return
        self.average.n_averaged.copy_(saved["n_averaged"])
        pl_module.net.load_state_dict({k[n:]: v for k, v in saved["raw"].items()})
        self._swapped = False
