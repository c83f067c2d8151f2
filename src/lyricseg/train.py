"""The training task: data, model, loss and trainer built from the Hydra config.

``python train.py`` (the root shim) calls :func:`run`, which returns the monitored value for
sweepers; tests call :func:`train`, which returns metrics and the built objects.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from lyricseg.data import LyricsDataModule
from lyricseg.models.inference import collect_outputs
from lyricseg.models.tagger import LyricsTagger, attach_run_config
from lyricseg.utils.errors import exit_on_user_error
from lyricseg.utils.io import atomic_write_json
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)

#: Config groups a checkpoint needs to rebuild the model on its own.
STORED_GROUPS = ("features", "model", "loss", "decoder", "optimizer", "scheduler", "monitor")


def _instantiate_dict(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every non-null ``_target_`` entry of a mapping (callbacks, loggers)."""
    if not cfg:
        return []
    return [instantiate(node) for node in cfg.values() if node is not None and "_target_" in node]


def _uses_class_weights(node: Any) -> bool:
    """Whether a loss config (possibly compound) turns class weights on."""
    if isinstance(node, DictConfig):
        weights = node.get("class_weights")
        if weights is not None and weights != "none":
            return True
        return any(_uses_class_weights(v) for v in node.values())
    if OmegaConf.is_list(node):
        return any(_uses_class_weights(v) for v in node)
    return False


def stored_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config subset saved in checkpoints (see :data:`STORED_GROUPS`)."""
    out = {}
    for key in STORED_GROUPS:
        node = cfg.get(key)
        out[key] = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    return out


def _cross_fitted_probs(cfg: DictConfig, songs: list[dict[str, Any]]) -> list[list[float]]:
    """P(chorus) of each song from a calibrator fitted on the other half of the songs."""
    halves = [songs[0::2], songs[1::2]]
    probs: dict[int, list[float]] = {}
    for fit_on, apply_to in ((halves[0], halves[1]), (halves[1], halves[0])):
        if not fit_on or not apply_to:
            continue
        calibrator = instantiate(cfg.calibration).fit(
            torch.cat([s["logits"] for s in fit_on]), torch.cat([s["labels"] for s in fit_on])
        )
        for song in apply_to:
            probs[song["index"]] = calibrator(song["logits"]).tolist()
    return [probs[s["index"]] for s in songs if s["index"] in probs]


def evaluate_best(
    cfg: DictConfig, model: LyricsTagger, datamodule: LyricsDataModule, best_path: str
) -> dict[str, Any]:
    """Score the best checkpoint on val and, when configured, fit and store its calibrator.

    The calibrator is fitted on all validation songs and saved into ``best_path``; its ECE is
    reported both in-sample and cross-fitted (two halves of the songs, each calibrated by a
    calibrator fitted on the other), the latter being the honest estimate. Decisions are not
    changed: calibration only rescales P(chorus).

    Returns:
        ``{"val": metrics of the best checkpoint, "calibration": report or None}``; the
        calibration report is also written to ``<run dir>/calibration.json``.
    """
    from lyricseg.metrics import evaluate_songs
    from lyricseg.utils.io import atomic_write

    checkpoint = torch.load(best_path, map_location="cpu", weights_only=False)
    model.load_state_dict(checkpoint["state_dict"])
    songs = collect_outputs(model, model.decoder, datamodule.val_dataloader())
    preds = [s["preds"].tolist() for s in songs]
    targets = [s["labels"].tolist() for s in songs]
    raw = [torch.softmax(s["logits"], dim=-1)[:, 1].tolist() for s in songs]
    before = evaluate_songs(preds, targets, raw)
    if not cfg.get("calibration"):
        return {"val": before, "calibration": None}

    logits = torch.cat([s["logits"] for s in songs])
    labels = torch.cat([s["labels"] for s in songs])
    calibrator = instantiate(cfg.calibration).fit(logits, labels)
    after = evaluate_songs(preds, targets, [calibrator(s["logits"]).tolist() for s in songs])
    crossed = _cross_fitted_probs(cfg, songs) if len(songs) >= 2 else []
    cross = evaluate_songs(preds, targets, crossed) if len(crossed) == len(songs) else {}
    keys = ("ece", "mce", "conf_over_95")
    report = {
        "method": calibrator.to_dict()["name"],
        "fitted_on": "val",
        "n_lines": int(labels.numel()),
        "before": {k: before[k] for k in keys},
        "after": {k: after[k] for k in keys},
        "after_cross_fitted": {k: cross[k] for k in keys} if cross else None,
    }
    checkpoint.setdefault("lyricseg", {})["calibrator"] = calibrator.to_dict()
    with atomic_write(best_path, "wb") as handle:
        torch.save(checkpoint, handle)
    atomic_write_json(Path(cfg.paths.output_dir) / "calibration.json", report)
    log.info(
        "Calibration (%s) on val: ECE %.4f -> %.4f in-sample, %.4f cross-fitted",
        report["method"],
        before["ece"],
        after["ece"],
        cross.get("ece", float("nan")),
    )
    return {"val": before, "calibration": report}


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Train, calibrate and (optionally) test a tagger.

    Args:
        cfg: The composed ``train.yaml`` config.

    Returns:
        ``(metrics, objects)``: the final logged metrics as floats, and the built objects
        (``cfg``, ``datamodule``, ``model``, ``trainer``, ``best_path``, ``best_val`` — the
        val metrics of the best checkpoint — and ``calibration``).
    """
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    datamodule: LyricsDataModule = instantiate(cfg.data)
    start = time.perf_counter()
    datamodule.prepare_data()
    datamodule.setup("fit")
    featurize_s = time.perf_counter() - start

    criterion = instantiate(cfg.loss)
    criterion.set_class_counts(datamodule.class_counts)
    log.info("Loss: %s", criterion.describe())
    if datamodule.weighted_sampling and _uses_class_weights(cfg.loss):
        log.warning(
            "Weighted sampling and class weights are both on: the rarer class is corrected twice."
        )

    model: LyricsTagger = instantiate(
        cfg.model,
        input_dim=datamodule.features.dim,
        ssm_channels=len(datamodule.features.ssm_views),
        criterion=criterion,
    )
    attach_run_config(model, stored_config(cfg))
    callbacks = _instantiate_dict(cfg.get("callbacks"))
    loggers = _instantiate_dict(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    start = time.perf_counter()
    fit_started = time.time()
    trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    fit_s = time.perf_counter() - start
    checkpoint_cb = trainer.checkpoint_callback
    best_path = getattr(checkpoint_cb, "best_model_path", "") or ""

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    if best_path:  # how long training took to reach the checkpoint it keeps
        metrics["time/to_best_s"] = Path(best_path).stat().st_mtime - fit_started
    best = {"val": None, "calibration": None}
    if best_path and trainer.is_global_zero:
        best = evaluate_best(cfg, model, datamodule, best_path)

    if cfg.get("test") and datamodule.has_test and not trainer.fast_dev_run:
        datamodule.setup("test")
        trainer.test(
            model=model, datamodule=datamodule, ckpt_path=best_path or None, weights_only=False
        )
        metrics.update(
            {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        )

    metrics["time/featurize_s"] = featurize_s
    metrics["time/fit_s"] = fit_s
    if trainer.is_global_zero:
        summary = {
            "best_checkpoint": best_path,
            "best_score": float(checkpoint_cb.best_model_score)
            if checkpoint_cb is not None and checkpoint_cb.best_model_score is not None
            else None,
            "monitor": cfg.monitor,
            "epochs": trainer.current_epoch,
            "metrics": metrics,
            "best_val": best["val"],
            "calibration": best["calibration"],
        }
        atomic_write_json(Path(cfg.paths.output_dir) / "summary.json", summary)
        log.info("Best %s = %s (%s)", cfg.monitor, summary["best_score"], best_path)
    objects = {
        "cfg": cfg,
        "datamodule": datamodule,
        "model": model,
        "trainer": trainer,
        "best_path": best_path,
        "best_val": best["val"],
        "calibration": best["calibration"],
    }
    return metrics, objects


def _best_monitored(cfg: DictConfig) -> float | None:
    metrics, _ = train(cfg)
    return metrics.get(f"{cfg.monitor}_best", metrics.get(cfg.monitor))


def run(cfg: DictConfig) -> float | None:
    """Train and return the best value of the monitored metric (what a sweeper optimizes).

    In a single run a :class:`~lyricseg.utils.errors.LyricsegError` becomes one error line and
    exit status 2; in a multirun it propagates, so Hydra records that job as failed and the
    other jobs go on.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return _best_monitored(cfg)
    return exit_on_user_error(_best_monitored)(cfg)
