"""The training task: data, model, loss and trainer built from the Hydra config.

``python train.py`` (the root shim) calls :func:`run`, which returns the monitored value for
sweepers; tests call :func:`train`, which returns metrics and the built objects.

A run writes Lightning's training checkpoints (``last.ckpt`` every epoch, ``best-state.ckpt``
at the best epoch) and, once training ends, the model file ``best.ckpt``: the best epoch's
network with its calibrator, written once through :mod:`lyricseg.checkpoint`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard.summary import hparams

from lyricseg import checkpoint
from lyricseg.calibration import fit_calibration
from lyricseg.metrics import evaluate_songs
from lyricseg.models.inference import collect_outputs
from lyricseg.training.datamodule import LyricsDataModule
from lyricseg.training.module import LyricsTagger
from lyricseg.utils.errors import exit_on_user_error
from lyricseg.utils.io import atomic_write_json
from lyricseg.utils.logging import get_logger, setup_run_logging

log = get_logger(__name__)

#: File name of the model that prediction reads, beside Lightning's checkpoints.
MODEL_FILE = "best.ckpt"


def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


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


def build_model(cfg: DictConfig, datamodule: LyricsDataModule) -> LyricsTagger:
    """The LightningModule: loss fitted to the class counts, network sized by the features.

    What the data decides is filled in here, the way ``input_dim`` is: the section head's
    classes (``model.net.section_classes``, with ``model.net.sections``) from the
    datamodule's section map, the verse/chorus conventions of its corpora
    (``model.net.conventions``), and a joint decoder's ``label_given_class`` left null,
    counted on its training songs.
    """
    criterion = instantiate(cfg.loss)
    criterion.set_class_counts(datamodule.class_counts)
    log.info("Loss: %s", criterion.describe())
    if datamodule.weighted_sampling and _uses_class_weights(cfg.loss):
        log.warning(
            "Weighted sampling and class weights are both on: the rarer class is corrected twice."
        )
    section_map = datamodule.section_map
    net = {
        **_container(cfg.model.net),
        "input_dim": datamodule.features.dim,
        "ssm_channels": len(datamodule.features.ssm_views),
    }
    if net.get("sections"):  # the section head's classes: the vocabulary the model keeps
        net["section_classes"] = list(section_map.classes)
    net["conventions"] = list(datamodule.conventions)  # one verse/chorus head each
    decoder = _container(cfg.get("decoder"))
    if isinstance(decoder, dict) and decoder.get("label_given_class", ()) is None:  # null: fill
        table = datamodule.label_given_class() if net.get("sections") else None
        decoder = {**decoder, "label_given_class": table}
    record = checkpoint.make_record(net, _container(cfg.features), decoder)
    model: LyricsTagger = instantiate(
        cfg.model,
        net=record.build_net(),
        decoder=record.build_decoder(),
        criterion=criterion,
        val_names=datamodule.val_names,
    )
    model.record = record
    return model


def export_model(
    cfg: DictConfig, model: LyricsTagger, datamodule: LyricsDataModule
) -> dict[str, Any]:
    """Score the (already loaded) best weights on val, calibrate, write the model file once.

    Returns:
        ``{"val": metrics before calibration, "calibration": report or None, "path": Path}``;
        the report also goes to ``<run dir>/calibration.json``.
    """
    songs = collect_outputs(model, model.decoder, datamodule.main_val_dataloader())
    val = evaluate_songs(
        [s["preds"].tolist() for s in songs],
        [s["labels"].tolist() for s in songs],
        [s["logits"].softmax(-1)[:, 1].tolist() for s in songs],
    )
    calibrator, report = None, None
    if cfg.get("calibration"):
        calibrator, report = fit_calibration(instantiate(cfg.calibration, _partial_=True), songs)
        atomic_write_json(Path(cfg.paths.output_dir) / "calibration.json", report)
    path = Path(cfg.paths.output_dir) / "checkpoints" / MODEL_FILE
    checkpoint.save_model(path, model.net, model.record.with_calibrator(calibrator))
    log.info("Wrote the model file %s", path)
    return {"val": val, "calibration": report, "path": path}


def hparams_settings(cfg: DictConfig) -> dict[str, Any]:
    """The run's key settings for TensorBoard's HParams view.

    The chosen config groups (``data``, ``model``, ``loss``, ..., when run by Hydra) and the
    values of the dotted keys listed in ``cfg.hparams_view``; values that are not numbers,
    strings or booleans are shown as text.
    """
    settings: dict[str, Any] = {}

    if HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
        settings.update(
            {k: v for k, v in choices.items() if v is not None and not k.startswith("hydra")}
        )
    for key in cfg.get("hparams_view") or []:
        value = OmegaConf.select(cfg, key, default=None)
        value = _container(value)
        settings[key] = value if isinstance(value, bool | int | float | str) else str(value)
    return settings


def log_hparams_view(cfg: DictConfig, trainer: L.Trainer) -> None:
    """Fill TensorBoard's HParams view: the key settings against the best monitored value.

    The view's metric is ``<monitor>_best``, the best-so-far scalar the module logs after each
    validation, so TensorBoard shows the run's best value (the last point of that scalar).
    """
    loggers = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
    if not loggers or not trainer.is_global_zero:
        return
    summaries = hparams(hparams_settings(cfg), {f"{cfg.monitor}_best": 0.0})
    for logger in loggers:
        writer = logger.experiment._get_file_writer()  # as TensorBoardLogger.log_hyperparams
        for summary in summaries:
            writer.add_summary(summary)
        writer.flush()


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Train, calibrate and (optionally) test a tagger.

    Args:
        cfg: The composed ``train.yaml`` config.

    Returns:
        ``(metrics, objects)``: the final logged metrics as floats, and the built objects
        (``cfg``, ``datamodule``, ``model``, ``trainer``, ``best_path`` — the model file —,
        ``best_val`` — val metrics of the best epoch — and ``calibration``).
    """
    setup_run_logging()
    if cfg.get("ckpt_path"):  # the command checks it before Hydra takes over a run folder
        checkpoint.check_resume(cfg.ckpt_path, _container(cfg.model.net), _container(cfg.features))
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    if cfg.get("torch_threads"):
        torch.set_num_threads(cfg.torch_threads)

    datamodule: LyricsDataModule = instantiate(cfg.data)
    start = time.perf_counter()
    datamodule.prepare_data()
    datamodule.setup("fit")
    featurize_s = time.perf_counter() - start

    model = build_model(cfg, datamodule)
    callbacks = _instantiate_dict(cfg.get("callbacks"))
    loggers = _instantiate_dict(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    log_hparams_view(cfg, trainer)

    start = time.perf_counter()
    fit_started = time.time()
    trainer.fit(
        model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True
    )
    fit_s = time.perf_counter() - start
    checkpoint_cb = trainer.checkpoint_callback
    state_path = getattr(checkpoint_cb, "best_model_path", "") or ""

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    if state_path:  # how long training took to reach the checkpoint it keeps
        metrics["time/to_best_s"] = Path(state_path).stat().st_mtime - fit_started
        model.load_state_dict(checkpoint.load_raw(state_path)["state_dict"])
    best = {"val": None, "calibration": None, "path": None}
    if state_path and trainer.is_global_zero:
        best = export_model(cfg, model, datamodule)

    if cfg.get("test") and datamodule.has_test and not trainer.fast_dev_run:
        datamodule.setup("test")
        trainer.test(model=model, datamodule=datamodule)
        metrics.update(
            {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        )

    metrics["time/featurize_s"] = featurize_s
    metrics["time/fit_s"] = fit_s
    best_path = str(best["path"]) if best["path"] else ""
    if trainer.is_global_zero:
        score = getattr(checkpoint_cb, "best_model_score", None)
        summary = {
            "best_checkpoint": best_path,
            "best_state": state_path,
            "best_score": None if score is None else float(score),
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
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return _best_monitored(cfg)
    return exit_on_user_error(_best_monitored)(cfg)
