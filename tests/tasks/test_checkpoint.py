"""The checkpoint seam: safe loading, versions, upgrades, and an exact resume after a crash."""

import json
import pickle
from pathlib import Path

import pytest
import torch
from support import TINY, TINY_MODEL, run_script, tmp_paths

from lyricseg import checkpoint
from lyricseg.checkpoint import CheckpointError, load_model, read_record


def _predict(ckpt: Path, tmp_path: Path, *extra: str):
    return run_script(
        "predict.py",
        f"ckpt={ckpt}",
        f"input={TINY}/val.jsonl",
        f"output={tmp_path}/out.jsonl",
        f"hydra.run.dir={tmp_path}/run",
        *extra,
    )


def _rewrite(src: Path, dst: Path, change) -> Path:
    data = torch.load(src, weights_only=True)
    change(data)
    torch.save(data, dst)
    return dst


class _Payload:
    """Unpickling this creates a file: what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def test_model_file_holds_only_weights_and_record(tiny_checkpoint):
    data = torch.load(tiny_checkpoint, weights_only=True)
    assert set(data) == {"state_dict", "lyricseg"}
    section = data["lyricseg"]
    assert section["format_version"] == checkpoint.FORMAT_VERSION
    assert section["feature_version"] == checkpoint._feature_version()
    assert section["lyricseg_version"] == checkpoint.lyricseg_version()
    assert section["net"]["_target_"] == "lyricseg.models.components.TaggerNet"
    assert section["net"]["hidden_size"] == 16 and section["net"]["input_dim"] > 0
    assert section["calibrator"]["name"] == "platt"
    assert all(k.startswith("net.") for k in data["state_dict"])


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "created-by-checkpoint"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "lyricseg": {}, "x": _Payload(marker)}, evil)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(evil, weights_only=True)
    result = _predict(evil, tmp_path)
    assert result.returncode == 2, result.stderr
    assert not marker.exists()
    assert "pickled Python objects" in result.stderr
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out.jsonl").exists()
    torch.load(evil, weights_only=False)  # the payload is real: unsafe loading runs it
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize(
    ("where", "target"),
    [
        ("net", "os.system"),
        ("features", "subprocess.Popen"),
        ("decoder", "lyricseg.training.task.train"),
        ("net.attention", "builtins.eval"),
    ],
)
def test_foreign_targets_are_refused(tiny_checkpoint, tmp_path, where, target):
    def change(data):
        node = data["lyricseg"]
        *parents, last = where.split(".")
        for key in parents:
            node = node[key]
        if isinstance(node.get(last), dict):
            node[last]["_target_"] = target
        else:
            node[last] = {"_target_": target}

    bad = _rewrite(tiny_checkpoint, tmp_path / "bad.ckpt", change)
    with pytest.raises(CheckpointError, match=f"refusing to build '{target}'"):
        load_model(bad)


def test_foreign_calibrator_is_refused(tiny_checkpoint, tmp_path):
    def change(data):
        data["lyricseg"]["calibrator"]["_target_"] = "os.system"

    bad = _rewrite(tiny_checkpoint, tmp_path / "bad.ckpt", change)
    with pytest.raises(CheckpointError, match="refusing calibrator 'os.system'"):
        load_model(bad)


def test_calibrator_is_stored_as_a_target_config(tiny_checkpoint):
    """Format 4: the calibrator is a ``_target_`` config, built like every stored config."""
    stored = torch.load(tiny_checkpoint, weights_only=True)["lyricseg"]["calibrator"]
    assert stored["_target_"] == "lyricseg.calibration.scalers.PlattScaler"
    assert "target" not in stored and set(stored["state"]) == {"a", "b"}


def _as_format_3(data: dict) -> None:
    section = data["lyricseg"]
    calibrator = section["calibrator"]
    section["format_version"] = 3
    section["calibrator"] = {"target": calibrator.pop("_target_"), **calibrator}


def test_format_3_calibrator_loads_through_its_upgrade(tiny_checkpoint, tmp_path):
    """A format-3 file names its calibrator's class under ``target``; the upgrade renames it."""
    v3 = _rewrite(tiny_checkpoint, tmp_path / "v3.ckpt", _as_format_3)
    assert "target" in torch.load(v3, weights_only=True)["lyricseg"]["calibrator"]
    record, _ = read_record(v3)
    assert "_target_" in record.calibrator and "target" not in record.calibrator
    current = load_model(tiny_checkpoint)
    assert record.calibrator == current.record.calibrator
    model = load_model(v3)
    logits = torch.randn(4, 2)
    torch.testing.assert_close(model.calibrator(logits), current.calibrator(logits))


def test_the_lyricseg_0_2_model_loads_through_every_upgrade():
    """The model shipped with 0.2 is format 2 with a ``target`` calibrator, upgraded on reading."""
    from support import FORMAT2_MODEL

    raw = torch.load(FORMAT2_MODEL, weights_only=True)["lyricseg"]
    assert raw["format_version"] < checkpoint.FORMAT_VERSION
    assert "target" in raw["calibrator"] and "_target_" not in raw["calibrator"]
    model = load_model(FORMAT2_MODEL)
    assert model.record.calibrator["_target_"] == raw["calibrator"]["target"]
    assert model.record.calibrator["state"] == raw["calibrator"]["state"]
    assert type(model.calibrator).__name__ == "TemperatureScaler"
    assert model.calibrator.temperature.item() == pytest.approx(
        raw["calibrator"]["state"]["temperature"]
    )


def test_plain_state_dict_is_not_a_lyricseg_checkpoint(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), plain)
    result = _predict(plain, tmp_path)
    assert result.returncode == 2
    assert "is not a lyricseg checkpoint (a plain state_dict" in result.stderr
    assert "Traceback" not in result.stderr


def test_newer_format_and_other_feature_version_name_both_versions(tiny_checkpoint, tmp_path):
    newer = _rewrite(
        tiny_checkpoint,
        tmp_path / "newer.ckpt",
        lambda d: d["lyricseg"].update(format_version=checkpoint.FORMAT_VERSION + 1),
    )
    result = _predict(newer, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"format {checkpoint.FORMAT_VERSION + 1} is newer" in result.stderr
    assert f"format {checkpoint.FORMAT_VERSION})" in result.stderr

    ours = checkpoint._feature_version()
    stale = _rewrite(
        tiny_checkpoint,
        tmp_path / "stale.ckpt",
        lambda d: d["lyricseg"].update(feature_version=ours - 1),
    )
    result = _predict(stale, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"features version {ours - 1}" in result.stderr
    assert f"computes version {ours}" in result.stderr
    assert result.stderr.count("\n") == 1  # one line


def test_format_1_loads_through_its_upgrade(tiny_checkpoint, tmp_path, monkeypatch):
    """A 0.1 checkpoint (config + input_dim) is upgraded, then checked like any other."""
    data = torch.load(tiny_checkpoint, weights_only=True)
    section = data["lyricseg"]
    net = dict(section["net"])
    old = {
        "config": {
            "features": section["features"],
            "model": {
                "_target_": "lyricseg.models.LyricsTagger",
                **{k: v for k, v in net.items() if k not in ("_target_", "input_dim")},
            },
            "decoder": section["decoder"],
            "loss": {"_target_": "lyricseg.losses.CrossEntropyLoss"},
        },
        "input_dim": net["input_dim"],
        "calibrator": section["calibrator"],
    }
    old["config"]["model"].pop("ssm_channels")
    v1 = tmp_path / "v1.ckpt"
    torch.save({"state_dict": data["state_dict"], "lyricseg": old}, v1)
    # Feature version 1 is implied; pretend this lyricseg still computes it.
    monkeypatch.setattr(checkpoint, "_feature_version", lambda: 1)
    record, _ = read_record(v1)
    # format 1 knew neither section heads, breaks nor SSM attention: the network's defaults
    # (off) apply
    new = ("sections", "breaks", "ssm_attention")
    assert record.net == {k: v for k, v in net.items() if k not in new}
    assert not net["sections"] and not net["breaks"]
    assert record.lyricseg_version == "0.1.0"
    model = load_model(v1)
    assert model.calibrator is not None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["net"].update(bogus_key=1), "cannot rebuild the stored model"),
        (lambda s: s["net"].pop("input_dim"), "cannot rebuild the stored model"),
        (lambda s: s.pop("features"), "lacks features"),
        (lambda s: s["net"].update(hidden_size=8), "weights do not match the stored model"),
    ],
)
def test_damaged_records_are_one_clear_error(tiny_checkpoint, tmp_path, change, message):
    bad = _rewrite(tiny_checkpoint, tmp_path / "bad.ckpt", lambda d: change(d["lyricseg"]))
    result = _predict(bad, tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1


def test_training_checkpoints_predict_too(tiny_checkpoint):
    last = tiny_checkpoint.parent / "last.ckpt"
    model = load_model(last)
    assert model.calibrator is None  # calibration is fitted after training
    assert model.record.net == load_model(tiny_checkpoint).record.net


def _train_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        *tmp_paths(tmp_path),
        "data=synthetic",
        "data.generator.n_train=32",
        "data.generator.n_val=12",
        "data.generator.n_test=8",
        *TINY_MODEL,
        "trainer.max_epochs=5",
        "callbacks.early_stopping.patience=3",
        "callbacks.validation_images=null",
        "callbacks.progress_bar=null",
        "+trainer.enable_progress_bar=false",
        "calibration=none",
        "seed=3",
        *extra,
    ]


def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path):
    """Kill training after its 2nd epoch, resume with the README's command, compare."""
    whole = tmp_path / "whole"
    result = run_script("train.py", *_train_args(whole), timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]

    crashed = tmp_path / "crashed"
    run_dir = crashed / "logs/train/runs/first"
    args = _train_args(crashed, f"hydra.run.dir={run_dir}")
    args = [a for a in args if not a.startswith("paths.output_dir")]
    result = run_script(
        "train.py",
        *args,
        "+callbacks.kill._target_=support.KillAtEpoch",
        "+callbacks.kill.epoch=2",
        timeout=400,
    )
    assert result.returncode < 0  # killed by the signal
    last = run_dir / "checkpoints/last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1
    assert not (run_dir / "checkpoints/best.ckpt").exists()

    # The README's resume command: the same run folder is reused, from last.ckpt alone.
    args = [a for a in _train_args(crashed) if not a.startswith("paths.output_dir")]
    result = run_script("train.py", *args, f"ckpt_path={last}", timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]

    a = json.loads((whole / "run/summary.json").read_text())
    b = json.loads((run_dir / "summary.json").read_text())
    assert b["best_score"] == pytest.approx(a["best_score"], abs=1e-6)
    assert b["epochs"] == a["epochs"]
    key = "val/boundary_f1_best"
    assert b["metrics"][key] == pytest.approx(a["metrics"][key], abs=1e-6)
    assert b["metrics"]["lr-AdamW"] == pytest.approx(a["metrics"]["lr-AdamW"], rel=1e-6)
    assert b["best_val"] == pytest.approx(a["best_val"], abs=1e-6)
    # Training went on exactly as without the crash: same final weights (dropout masks and
    # batch order included), same optimizer and early-stopping state.
    la = torch.load(whole / "run/checkpoints/last.ckpt", weights_only=True)
    lb = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)
    assert la["epoch"] == lb["epoch"] >= 2  # epochs after the crash were trained
    for key, value in la["state_dict"].items():
        assert torch.allclose(value, lb["state_dict"][key], atol=1e-6), key
    sa, sb = la["callbacks"], lb["callbacks"]
    early = next(k for k in sa if k.startswith("EarlyStopping"))
    assert sb[early]["wait_count"] == sa[early]["wait_count"]
    assert float(sb[early]["best_score"]) == pytest.approx(float(sa[early]["best_score"]))
