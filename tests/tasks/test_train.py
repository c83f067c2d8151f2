import json
from pathlib import Path

import pytest
import torch
from support import TINY, run_script, tmp_paths
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lyricseg.train import train

FAST = [
    "data=tiny",
    "model.hidden_size=16",
    "model.projection_size=16",
    "model.num_layers=1",
    "callbacks.progress_bar=null",
    "+trainer.enable_progress_bar=false",
]


def scalars(run_dir: Path) -> set[str]:
    tags: set[str] = set()
    for event in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(event))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


def test_train_writes_checkpoints_logs_and_calibration(make_cfg, tmp_path):
    cfg = make_cfg("trainer.max_epochs=3")
    metrics, objects = train(cfg)
    run = tmp_path / "run"
    assert (run / "checkpoints/best.ckpt").exists() and (run / "checkpoints/last.ckpt").exists()
    assert Path(objects["best_path"]) == run / "checkpoints/best.ckpt"
    tags = scalars(run)
    assert {"train/loss", "val/loss", "val/boundary_f1", "val/boundary_f1_best", "val/ece"} <= tags
    assert "val/macro_f1" in metrics and "test/macro_f1" in metrics
    summary = json.loads((run / "summary.json").read_text())
    assert summary["monitor"] == "val/boundary_f1"
    calibration = json.loads((run / "calibration.json").read_text())
    assert set(calibration["before"]) == {"ece", "mce", "conf_over_95"}
    assert calibration["after_cross_fitted"]["ece"] >= 0
    assert summary["best_val"]["n_songs"] == 4
    ckpt = torch.load(run / "checkpoints/best.ckpt", weights_only=False)
    assert ckpt["lyricseg"]["calibrator"]["name"] == "temperature"
    assert ckpt["lyricseg"]["config"]["features"]["_target_"].endswith("FeatureExtractor")


def test_resume_from_last_checkpoint(make_cfg, tmp_path):
    first = make_cfg("trainer.max_epochs=2", "calibration=none")
    train(first)
    last = tmp_path / "run/checkpoints/last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 1
    resumed = make_cfg("trainer.max_epochs=4", "calibration=none", f"ckpt_path={last}")
    _, objects = train(resumed)
    assert objects["trainer"].current_epoch == 4
    assert torch.load(last, weights_only=False)["epoch"] == 3


def test_bf16_mixed_on_cpu(make_cfg):
    metrics, objects = train(make_cfg("trainer.precision=bf16-mixed", "trainer.max_epochs=1"))
    assert objects["trainer"].precision == "bf16-mixed"
    assert torch.isfinite(torch.tensor(metrics["val/loss"]))


def test_attention_model_and_viterbi_decoder(make_cfg):
    metrics, _ = train(
        make_cfg(
            "model=bilstm_attention",
            "model.attention.window=2",
            "decoder=viterbi",
            "model.hidden_size=16",
            "model.projection_size=16",
            "model.num_layers=1",
        )
    )
    assert 0.0 <= metrics["val/boundary_f1"] <= 1.0


def test_fast_dev_run_debug_preset(make_cfg):
    _, objects = train(make_cfg("debug=fast"))
    assert objects["trainer"].fast_dev_run


def test_ddp_cpu_two_processes(tmp_path):
    result = run_script(
        "train.py",
        *tmp_paths(tmp_path),
        *FAST,
        "trainer=ddp_cpu",
        "trainer.max_epochs=1",
        "calibration=none",
        "test=false",
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distributed_backend=gloo" in result.stderr + result.stdout
    assert "All distributed processes registered. Starting with 2 processes" in (
        result.stderr + result.stdout
    )
    assert (tmp_path / "run/checkpoints/best.ckpt").exists()


def test_bad_data_gives_one_clear_error(tmp_path):
    data = tmp_path / "bad"
    data.mkdir()
    (data / "train.jsonl").write_text((TINY / "train.jsonl").read_text() + "{oops\n")
    (data / "val.jsonl").write_text((TINY / "val.jsonl").read_text())
    result = run_script("train.py", *tmp_paths(tmp_path), *FAST, f"data.data_dir={data}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{data}/train.jsonl:9: malformed JSON" in result.stderr


@pytest.mark.parametrize("loss", ["cross_entropy", "focal"])
def test_loss_swaps_by_config(make_cfg, loss):
    metrics, objects = train(make_cfg(f"loss={loss}", "trainer.max_epochs=1"))
    assert type(objects["model"].criterion).__name__.lower().startswith(loss.split("_")[0][:5])


def test_ssm_encoder_model_trains_and_predicts(make_cfg, tmp_path):
    from lyricseg.data import read_jsonl
    from lyricseg.predict import Predictor

    cfg = make_cfg(
        "model=ssm_bilstm",
        "features.ssm_views=[string,exact]",
        "model.hidden_size=16",
        "model.projection_size=16",
        "model.num_layers=1",
        "model.ssm_encoder.channels=4",
    )
    _, objects = train(cfg)
    assert objects["model"].net.ssm_encoder is not None
    predictor = Predictor.from_checkpoint(objects["best_path"])
    records = predictor.predict(read_jsonl(TINY / "val.jsonl"))
    assert [len(r["labels"]) for r in records] == [12, 6, 7, 1]
