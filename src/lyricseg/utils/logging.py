"""Rank-zero aware logging."""

from __future__ import annotations

import logging
import os
import sys
import warnings


def _global_rank() -> int:
    # Lightning knows the rank once a Trainer exists; before that (or without Lightning, as in
    # predict.py) the launcher's environment variables tell it.
    utilities = sys.modules.get("lightning.pytorch.utilities")
    if utilities is not None:
        return int(getattr(utilities.rank_zero_only, "rank", 0) or 0)
    for var in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


class _RankZeroFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _global_rank() == 0


def get_logger(name: str) -> logging.Logger:
    """Return a logger under ``lyricseg`` that only emits on global rank zero."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, _RankZeroFilter) for f in logger.filters):
        logger.addFilter(_RankZeroFilter())
    return logger


#: Third-party log lines that say nothing about the run: Lightning's advertisement for its
#: cloud logger and its note that the configured rich model summary replaces its default one.
_NOISE_PREFIXES = (
    "💡 Tip:",
    "Trainer already configured with model summary callbacks",
)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_NOISE_PREFIXES)


def setup_run_logging() -> None:
    """Make a training run's console output say each thing once.

    * ``import lightning`` gives the ``lightning`` logger its own stderr handler while its
      records also reach the root logger; when the root logger has handlers (Hydra's job
      logging: console and run log file), Lightning's own handlers are removed so that each
      line is printed once, in the run's format, and also lands in the log file.
    * Lightning's per-run advertisement (the ``💡 Tip`` line) is dropped.
    * torch's ``FutureWarning`` about ``LeafSpec``, raised inside Lightning on every run
      (nothing a user can act on), is silenced by its message.

    Idempotent; call it once Lightning is imported.
    """
    leafspec = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
    warnings.filterwarnings("ignore", message=leafspec, category=FutureWarning)
    root_has_handlers = bool(logging.getLogger().handlers)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        if root_has_handlers:
            for handler in list(logger.handlers):
                if type(handler) is logging.StreamHandler:
                    logger.removeHandler(handler)
            logger.propagate = True
    for name in (
        "lightning.pytorch.utilities.rank_zero",
        "lightning.fabric.utilities.rank_zero",
        "lightning_utilities.core.rank_zero",
    ):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())
