import json

import pytest
from support import RESOURCES, TINY, run_script, tmp_paths

from lyricseg.train import train

EXPECTED_KEYS = {
    "accuracy",
    "macro_f1",
    "verse_f1",
    "chorus_f1",
    "boundary_precision",
    "boundary_recall",
    "boundary_f1",
    "boundary_f1_tol1",
    "boundary_f1_tol2",
    "window_diff",
    "pk",
    "complete_segments",
    "segment_iou",
    "ece",
    "mce",
    "conf_over_95",
    "n_songs",
    "n_lines",
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from hydra import compose, initialize_config_dir
    from support import REPO

    tmp = tmp_path_factory.mktemp("trained")
    overrides = [
        *tmp_paths(tmp),
        "data=tiny",
        "model.hidden_size=16",
        "model.num_layers=1",
        "trainer.max_epochs=3",
        "callbacks.progress_bar=null",
        "calibration=platt",
    ]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    _, objects = train(cfg)
    return objects["best_path"]


def test_jsonl_round_trip_is_deterministic(checkpoint, tmp_path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.jsonl"
        result = run_script(
            "predict.py",
            f"ckpt={checkpoint}",
            f"input={TINY}/val.jsonl",
            f"output={out}",
            f"hydra.run.dir={tmp_path}/{name}",
        )
        assert result.returncode == 0, result.stderr
        outs.append(out.read_text())
    assert outs[0] == outs[1]
    records = [json.loads(line) for line in outs[0].splitlines()]
    source = [json.loads(line) for line in (TINY / "val.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [s["id"] for s in source]
    for rec, src in zip(records, source, strict=True):
        assert len(rec["labels"]) == len(rec["probs"]) == len(src["lines"])
        assert set(rec["labels"]) <= {0, 1} and all(0 <= p <= 1 for p in rec["probs"])
    metrics = json.loads((tmp_path / "a.jsonl.metrics.json").read_text())
    assert set(metrics) == EXPECTED_KEYS
    assert metrics["n_songs"] == 4


def test_txt_input_prints_a_table(checkpoint, tmp_path):
    result = run_script(
        "predict.py",
        f"ckpt={checkpoint}",
        f"input={RESOURCES}/song.txt",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr
    rows = result.stdout.strip().splitlines()
    assert rows[0].split()[:3] == ["#", "label", "P(chorus)"]
    assert len(rows) == 1 + 10  # blank lines dropped
    assert "Hold on hold on" in result.stdout


def test_stdin_input(checkpoint, tmp_path):
    result = run_script(
        "predict.py",
        f"ckpt={checkpoint}",
        "input=-",
        f"output={tmp_path}/o.jsonl",
        f"hydra.run.dir={tmp_path}",
        stdin="la la\nla la\nverse\n",
    )
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert record["id"] == "stdin" and len(record["labels"]) == 3


@pytest.mark.parametrize("kind", ["missing", "corrupt"])
def test_bad_checkpoint_is_a_clear_error(tmp_path, kind):
    ckpt = tmp_path / "model.ckpt"
    if kind == "corrupt":
        ckpt.write_bytes(b"not a checkpoint")
    out = tmp_path / "out.jsonl"
    result = run_script(
        "predict.py",
        f"ckpt={ckpt}",
        f"input={TINY}/val.jsonl",
        f"output={out}",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "error:" in result.stderr
    assert not out.exists()


def test_unreadable_input_writes_nothing(checkpoint, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "lines": ["a"]}\n{"id": "x", "lines": ["b"]}\n')
    out = tmp_path / "out.jsonl"
    result = run_script(
        "predict.py",
        f"ckpt={checkpoint}",
        f"input={bad}",
        f"output={out}",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert result.returncode == 2
    assert f"{bad}:2: duplicate id 'x'" in result.stderr
    assert not out.exists()


def test_checkpoint_ignores_current_conf(checkpoint, tmp_path):
    """Predictions come from the stored config, not from conf/ (features included)."""
    from lyricseg.data import read_jsonl
    from lyricseg.predict import Predictor

    predictor = Predictor.from_checkpoint(checkpoint)
    assert predictor.features.signature()  # rebuilt from the checkpoint alone
    assert predictor.calibrator is not None
    records = predictor.predict(read_jsonl(TINY / "val.jsonl"))
    assert len(records) == 4


def test_prediction_does_not_import_lightning():
    import subprocess
    import sys

    code = (
        "import sys, lyricseg.predict, lyricseg.calibration, lyricseg.data;"
        "print([m for m in ('lightning', 'sklearn', 'torchmetrics') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
