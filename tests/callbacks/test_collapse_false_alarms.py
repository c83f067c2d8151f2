"""The collapse monitor stays quiet for a model that is confident because it is right."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from lyricseg.training.callbacks.anti_collapse import AntiCollapseMonitor


def check(metrics: dict) -> list[str]:
    monitor = AntiCollapseMonitor(max_overconfident=0.97)
    trainer = SimpleNamespace(
        callback_metrics=metrics, current_epoch=3, sanity_checking=False, should_stop=False
    )
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    log = logging.getLogger("lyricseg.training.callbacks.anti_collapse")
    log.addHandler(handler)
    try:
        monitor.on_validation_end(trainer, None)
    finally:
        log.removeHandler(handler)
    return [r.getMessage() for r in records if r.levelno == logging.WARNING]


def test_confident_and_right_is_no_collapse():
    """The embedded corpus once learned: 98% of lines confident, 99.7% right."""
    metrics = {"val/pred_chorus_rate": 0.36, "val/conf_over_95": 0.98, "val/accuracy": 0.997}
    assert check(metrics) == []


def test_confident_and_wrong_still_warns():
    metrics = {"val/pred_chorus_rate": 0.36, "val/conf_over_95": 0.99, "val/accuracy": 0.7}
    (warning,) = check(metrics)
    assert "over-confident share 0.990" in warning and "accuracy 0.700" in warning


def test_without_accuracy_the_share_alone_decides():
    assert check({"val/conf_over_95": 0.99})
