"""Every experiment preset composes and trains (one batch), and the sweep configs work."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict
from support import REPO, TINY, run_script, tmp_paths

from lyricseg.training.task import train

EXPERIMENTS = sorted((REPO / "conf" / "experiment").glob("*.yaml"))
QUIET = ["callbacks.progress_bar=null", "+trainer.enable_progress_bar=false"]


def compose_experiment(name: str, tmp_path: Path, *overrides: str, hydra: bool = False):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[*tmp_paths(tmp_path), f"experiment={name}", *overrides],
            return_hydra_config=hydra,
        )
    if not hydra:
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path / "run")
            # A JSONL corpus preset (data=lyrics) trains on the tiny test corpus here.
            if cfg.data.get("generator") is None:
                cfg.data.data_dir = str(TINY)
    return cfg


def test_presets_exist():
    names = {p.stem for p in EXPERIMENTS}
    assert {
        "smoke",
        "boundary_aggressive",
        "conservative",
        "imbalanced",
        "calibration_focus",
    } <= names


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_trains_one_batch(path, tmp_path):
    assert path.read_text().startswith("# @package _global_"), "experiments are global packages"
    cfg = compose_experiment(path.stem, tmp_path, "++trainer.fast_dev_run=true", *QUIET)
    metrics, objects = train(cfg)
    assert objects["trainer"].fast_dev_run
    assert "val/loss" in metrics


def test_imbalanced_preset_values(tmp_path):
    cfg = compose_experiment("imbalanced", tmp_path)
    assert list(cfg.loss.class_weights) == [1.0, 2.5]
    assert cfg.loss.label_smoothing == 0.2


def test_boundary_aggressive_logs_boundary_term(tmp_path):
    cfg = compose_experiment("boundary_aggressive", tmp_path)
    assert cfg.loss.use_boundary_as_primary is False
    assert cfg.loss.boundary_weight > 2.0


@pytest.mark.parametrize("search", ["optuna", "optuna_boundary_aware"])
def test_search_space_composes(search, tmp_path):
    cfg: DictConfig = compose_experiment("smoke", tmp_path, f"hparams_search={search}", hydra=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.direction == "maximize"
    assert sweeper.sampler._target_.endswith("TPESampler")
    assert "optimizer.lr" in sweeper.params and "model.net.dropout" in sweeper.params


def test_local_attention_window_follows_search_parameter(tmp_path):
    cfg = compose_experiment(
        "smoke", tmp_path, "model=bilstm_local_attention", "+attention_window=3"
    )
    assert cfg.model.net.attention.window == 3
    plain = compose_experiment("smoke", tmp_path, "model=bilstm_local_attention")
    assert plain.model.net.attention.window == 4


@pytest.mark.slow
def test_failing_job_does_not_stop_the_others(tmp_path):
    result = run_script(
        "train.py",
        "-m",
        "experiment=smoke",
        "hydra/launcher=parallel",
        "trainer.max_epochs=1",
        "calibration=none",
        "optimizer.lr=-1,0.002",
        f"paths.log_dir={tmp_path}/logs",
        f"paths.cache_dir={tmp_path}/cache",
        timeout=300,
    )
    assert result.returncode != 0
    assert "Error executing job with overrides" in result.stderr
    (sweep,) = (tmp_path / "logs/train/multiruns").iterdir()
    assert not (sweep / "0" / "summary.json").exists()
    assert (sweep / "1" / "summary.json").exists()


def test_slurm_launcher_config_composes(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cfg = compose_experiment("smoke", tmp_path, "hydra/launcher=slurm", hydra=True)
    # Composition only: nothing is submitted.
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.submitit_folder.endswith("/.submitit/%j")
