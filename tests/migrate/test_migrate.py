"""Conversion of earlier-format configs, unmapped-key reporting, and training the results."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import REPO, RESOURCES, TINY, tmp_paths

import lyricseg
from lyricseg.migrate import compose_experiment, convert, convert_file
from lyricseg.migrate.check import default_config_dir
from lyricseg.training.task import train
from lyricseg.utils import LyricsegError

OLD = RESOURCES / "old_configs"
FIXTURES = sorted(OLD.glob("*.yaml"))


def body(text: str) -> dict:
    return yaml.safe_load(text)


def test_loss_section_layout():
    m = convert_file(OLD / "boundary_aware_full.yaml")
    out = body(m.to_yaml())
    assert m.to_yaml().startswith("# @package _global_\n")
    assert {"override /loss": "boundary_aware"} in out["defaults"]
    assert {"override /model": "bilstm_attention"} in out["defaults"]
    assert {"override /scheduler": "plateau"} in out["defaults"]
    assert {"override /calibration": "auto"} in out["defaults"]
    assert out["loss"]["boundary_weight"] == 2.5 and out["loss"]["class_weights"] == [1.0, 1.8]
    assert out["model"] == {
        "net": {
            "hidden_size": 96,
            "num_layers": 2,
            "dropout": 0.25,
            "attention": {"heads": 4, "dropout": 0.15, "window": 6, "positional_encoding": True},
        }
    }
    assert out["data"] == {"weighted_sampling": False, "data_dir": "data/lyrics", "batch_size": 16}
    assert out["optimizer"] == {"lr": 0.0015, "weight_decay": 0.005}
    assert out["trainer"] == {"max_epochs": 40, "gradient_clip_val": 0.5}
    assert out["callbacks"]["early_stopping"] == {"patience": 7, "min_delta": 0.001}
    assert out["callbacks"]["anti_collapse"]["max_overconfident"] == 0.9
    assert out["monitor"] == "val/boundary_f1"
    views = out["features"]["views"]
    assert set(views) == {"head", "tail", "phonetic", "string"}  # syllable disabled, pos unmapped
    assert views["head"] == {
        "_target_": "lyricseg.features.HeadView",
        "words": 3,
        "threshold": 0.75,
    }
    assert out["features"]["block_views"] == ["string", "exact", "phonetic"]


def test_anti_collapse_layout():
    m = convert_file(OLD / "anti_collapse_legacy.yaml")
    out = body(m.to_yaml())
    assert {"override /loss": "cross_entropy"} in out["defaults"]
    assert {"override /calibration": "none"} in out["defaults"]
    assert {"override /scheduler": "warmup_cosine"} in out["defaults"]
    assert out["loss"] == {"label_smoothing": 0.2, "entropy_lambda": 0.02}
    assert out["data"]["weighted_sampling"] is True
    assert out["data"]["data_dir"] == "/corpora/lyrics"
    assert out["scheduler"]["scheduler"] == {"warmup_epochs": 0, "min_lr_ratio": 0.05}
    assert (out["monitor"], out["monitor_mode"]) == ("val/window_diff", "min")
    assert m.mapped["anti_collapse.label_smoothing"] == "loss.label_smoothing"


def test_unmapped_keys_are_reported_and_written_as_comments(caplog):
    m = convert_file(OLD / "unsupported_parts.yaml")
    assert set(m.unmapped) >= {
        "loss.boundary_weight",
        "data.train_file",
        "model.attention_type",
        "model.window_size",
        "training.scheduler",
        "training.cosine_t_max",
        "validation_strategy",
        "features.contextual_embeddings",
        "features.line_syllable_ssm",
        "experiment_name",
    }
    text = m.to_yaml()
    assert "#   training.scheduler: 'step' is not supported" in text
    out = body(text)
    assert "data_dir" not in out.get("data", {})
    assert out["seed"] == 7


def test_several_calibration_methods_become_auto_without_the_others():
    """auto.yaml's candidates are leave-one-out-able: the methods not listed become null."""
    m = convert({"calibration": {"methods": ["temperature_scaling", "platt", "histogram"]}})
    out = body(m.to_yaml())
    assert {"override /calibration": "auto"} in out["defaults"]
    assert out["calibration"] == {"candidates": {"isotonic": None}}
    assert "calibration.methods.histogram" in m.unmapped
    cfg = compose_experiment(m.to_yaml(), overrides=[f"paths.root_dir={REPO}"])
    from hydra.utils import instantiate

    auto = instantiate(cfg.calibration)
    assert [c.name for c in auto.candidates] == ["temperature", "platt"]


def test_loss_parameters_are_those_the_target_class_takes():
    """Parameter names come from the loss classes' signatures, not from lists beside them."""
    m = convert({"loss": {"type": "focal", "gamma": 1.5, "class_weights": [1, 2], "x": 1}})
    assert body(m.to_yaml())["loss"] == {"gamma": 1.5}
    assert m.unmapped["loss.class_weights"] == "not a parameter of loss=focal"
    assert m.unmapped["loss.x"] == "unknown loss parameter"
    m = convert({"loss": {"type": "tversky", "label_smoothing": 0.1, "num_classes": 2}})
    assert body(m.to_yaml())["loss"] == {"num_classes": 2}
    assert m.unmapped["loss.label_smoothing"] == "not a parameter of loss=tversky"
    for path in FIXTURES:  # every converted loss builds
        compose_experiment(convert_file(path).to_yaml(), overrides=[f"paths.root_dir={REPO}"])


def test_views_and_classes_come_from_the_packaged_config(tmp_path, monkeypatch):
    """Class paths, block views and group options are read from conf/, not restated."""
    conf = tmp_path / "conf"
    shutil.copytree(default_config_dir(), conf)
    default = conf / "features" / "default.yaml"
    text = default.read_text()
    default.write_text(text.replace("[string, exact, phonetic]", "[head]"))
    monkeypatch.setattr("lyricseg.migrate.check.default_config_dir", lambda: conf)
    m = convert({"features": {"head_ssm": {"head_words": 3}, "phonetic_ssm": {"enabled": True}}})
    views = body(m.to_yaml())["features"]
    assert views["block_views"] == ["string", "exact", "head"]
    assert views["views"]["head"] == {"_target_": "lyricseg.features.HeadView", "words": 3}
    (conf / "calibration" / "auto.yaml").unlink()
    with pytest.raises(LyricsegError, match="no calibration=auto"):
        convert({"calibration": {"methods": ["platt", "isotonic"]}})


def test_check_composes_the_packaged_config():
    config_dir = default_config_dir()
    assert config_dir.parent == Path(lyricseg.__file__).parent
    # In a checkout the packaged config is the top-level conf/ itself.
    assert config_dir.resolve() == (REPO / "conf").resolve()


def test_cli_logs_unmapped_keys_and_checks(tmp_path):
    """From a folder without conf/: --check needs nothing from the working directory."""
    out = tmp_path / "old_run.yaml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lyricseg.migrate",
            str(OLD / "unsupported_parts.yaml"),
            "--out",
            str(out),
            "--check",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Not mapped: training.scheduler" in result.stderr
    assert "Check passed" in result.stderr
    assert out.read_text().startswith("# @package _global_")


def test_bad_input_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(LyricsegError, match="mapping"):
        convert_file(bad)
    with pytest.raises(LyricsegError):
        convert([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_converted_config_trains(path: Path, tmp_path):
    text = convert_file(path).to_yaml()
    cfg = compose_experiment(
        text,
        name=path.stem,
        overrides=[
            *tmp_paths(tmp_path),
            f"data.data_dir={TINY}",
            "++trainer.fast_dev_run=true",
            "callbacks.progress_bar=null",
            "+trainer.enable_progress_bar=false",
        ],
    )
    assert cfg.paths.output_dir == f"{tmp_path}/run"
    metrics, objects = train(cfg)
    assert objects["trainer"].fast_dev_run
    assert "val/loss" in metrics
