"""Rank-zero aware logging."""

from __future__ import annotations

import logging
import os
import sys


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
