import json
import re
from pathlib import Path

import pytest
import torch
from support import TINY, TINY_MODEL, run_script, tmp_paths
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lyricseg.training.task import train

FAST = [
    "data=tiny",
    *TINY_MODEL,
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


def _predict_val(ckpt: Path, tmp_path: Path) -> dict:
    out = tmp_path / "val_pred.jsonl"
    result = run_script(
        "predict.py",
        f"ckpt={ckpt}",
        f"input={TINY}/val.jsonl",
        f"output={out}",
        f"hydra.run.dir={tmp_path}/predict",
    )
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / "val_pred.jsonl.metrics.json").read_text())


def test_train_writes_checkpoints_logs_and_calibration(make_cfg, tmp_path):
    cfg = make_cfg("trainer.max_epochs=3")
    metrics, objects = train(cfg)
    run = tmp_path / "run"
    for name in ("best.ckpt", "best-state.ckpt", "last.ckpt"):
        assert (run / "checkpoints" / name).exists()
    assert Path(objects["best_path"]) == run / "checkpoints/best.ckpt"
    tags = scalars(run)
    assert {"train/loss", "val/loss", "val/boundary_f1", "val/boundary_f1_best", "val/ece"} <= tags
    assert "val/macro_f1" in metrics and "test/macro_f1" in metrics
    summary = json.loads((run / "summary.json").read_text())
    assert summary["monitor"] == "val/boundary_f1"
    assert summary["best_val"]["n_songs"] == 4
    ckpt = torch.load(run / "checkpoints/best.ckpt", weights_only=True)
    assert ckpt["lyricseg"]["calibrator"]["name"] == "temperature"
    assert ckpt["lyricseg"]["features"]["_target_"].endswith("FeatureExtractor")
    # The model file predicts val exactly as training scored it: same labels (so the same
    # boundary F1 as the best epoch), and the calibrated ECE training reported in-sample.
    calibration = json.loads((run / "calibration.json").read_text())
    predicted = _predict_val(run / "checkpoints/best.ckpt", tmp_path)
    assert predicted["n_lines"] == calibration["n_lines"]
    assert predicted["boundary_f1"] == pytest.approx(summary["best_val"]["boundary_f1"])
    assert predicted["macro_f1"] == pytest.approx(summary["best_val"]["macro_f1"])
    assert predicted["ece"] == pytest.approx(calibration["after"]["ece"], abs=1e-5)
    assert calibration["before"]["ece"] == pytest.approx(summary["best_val"]["ece"])


def test_bf16_mixed_on_cpu(make_cfg):
    metrics, objects = train(make_cfg("trainer.precision=bf16-mixed", "trainer.max_epochs=1"))
    assert objects["trainer"].precision == "bf16-mixed"
    assert torch.isfinite(torch.tensor(metrics["val/loss"]))


def test_attention_model_and_viterbi_decoder(make_cfg, tmp_path):
    from lyricseg.checkpoint import load_model
    from lyricseg.models.components import LineSelfAttention, ViterbiDecoder

    _, objects = train(
        make_cfg(
            "model=bilstm_attention",
            "model.net.attention.window=2",
            "decoder=viterbi",
            "decoder.switch_penalty=0.7",
        )
    )
    restored = load_model(objects["best_path"])
    assert isinstance(restored.net.attention, LineSelfAttention)
    assert restored.net.attention.window == 2
    assert isinstance(restored.decoder, ViterbiDecoder)
    assert restored.decoder.switch_penalty == 0.7
    predicted = _predict_val(Path(objects["best_path"]), tmp_path)
    assert predicted["boundary_f1"] == pytest.approx(objects["best_val"]["boundary_f1"])


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


@pytest.mark.parametrize(
    ("model", "part", "setting"),
    [
        ("ssm_bilstm", "ssm_encoder", "model.net.ssm_encoder.channels=4"),
        ("ssm_attention", "ssm_attention", "model.net.ssm_attention.hidden=4"),
    ],
)
def test_ssm_reading_models_train_and_predict(make_cfg, tmp_path, model, part, setting):
    from lyricseg.data import read_jsonl
    from lyricseg.inference import Predictor

    cfg = make_cfg(f"model={model}", "features.ssm_views=[string,exact]", setting)
    _, objects = train(cfg)
    assert getattr(objects["model"].net, part) is not None
    predictor = Predictor.from_checkpoint(objects["best_path"])
    records = predictor.predict(read_jsonl(TINY / "val.jsonl"))
    assert [len(r.labels) for r in records] == [12, 6, 7, 1]


def hparams_plugin_data(run_dir: Path) -> dict:
    """The HParams plugin's summaries in a run's TensorBoard files, by kind."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import plugin_data_pb2

    found: dict = {}
    for path in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "hparams":
                    continue
                data = plugin_data_pb2.HParamsPluginData.FromString(
                    value.metadata.plugin_data.content
                )
                found[data.WhichOneof("data")] = getattr(data, data.WhichOneof("data"))
    return found


def test_tensorboard_hparams_view_has_the_key_settings_and_the_best_value(make_cfg, tmp_path):
    cfg = make_cfg("trainer.max_epochs=2", "test=false", "optimizer.lr=0.003")
    train(cfg)
    run = tmp_path / "run"
    data = hparams_plugin_data(run)
    assert {"experiment", "session_start_info"} <= set(data)
    settings = data["session_start_info"].hparams
    assert settings["optimizer.lr"].number_value == pytest.approx(0.003)
    assert settings["model.net.hidden_size"].number_value == 16
    assert settings["seed"].number_value == 42
    assert settings["trainer.precision"].string_value == "32-true"
    (metric,) = [m.name.tag for m in data["experiment"].metric_infos]
    # The metric is the best-so-far scalar the module logs: its last point is the best value.
    assert metric == "val/boundary_f1_best" and metric in scalars(run)


def test_defaults_hold_up_on_a_shared_machine(make_cfg):
    """One torch thread by default; the embedded corpus stops training once it is learned."""
    cfg = make_cfg("data=synthetic")
    assert cfg.torch_threads == 1
    learned = cfg.callbacks.corpus_learned
    assert learned.monitor == f"{cfg.monitor}_best" and learned.stopping_threshold == 0.95
    assert "corpus_learned" not in make_cfg().callbacks  # another corpus: no such stop


def test_console_says_each_thing_once_without_warnings_or_tips(tmp_path):
    """Every INFO line once (Hydra's handlers only), no torch deprecation, no vendor tip."""
    import os
    import subprocess
    import sys

    from support import REPO

    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(REPO / "train.py"), *tmp_paths(tmp_path), *FAST]
    cmd += ["trainer.max_epochs=1", "trainer.log_every_n_steps=1", "test=false"]
    cmd += [f"hydra.run.dir={tmp_path}/run"]
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    console = result.stdout + result.stderr
    assert console.count("Seed set to 42") == 1, console
    # Every INFO message once, in whichever format a second handler would print it.
    messages = re.findall(r"(?:\]\[INFO\] - |^INFO: )(.*)$", console, flags=re.M)
    assert len(messages) >= 5 and len(messages) == len(set(messages)), messages
    assert result.stderr.strip() == "", result.stderr
    assert "Tip" not in console and "deprecated" not in console
    # The run's log file gets Lightning's lines too.
    assert "Seed set to 42" in (tmp_path / "run" / "train.log").read_text()
