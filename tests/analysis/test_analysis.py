"""lyricseg.analysis on hand-written run folders (CSV and TensorBoard) and a sweep layout."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import REPO

from lyricseg.analysis import analyze, contributions, load_run, load_runs, recommendations
from lyricseg.analysis.report import comparison_rows
from lyricseg.utils import LyricsegError

BOUNDARY_AWARE = {
    "_target_": "lyricseg.losses.BoundaryAwareLoss",
    "boundary_weight": 1.5,
    "use_boundary_as_primary": False,
    "segment_consistency_lambda": 2.0,
    "conf_penalty_lambda": 0.5,
    "entropy_lambda": 0.0,
}
CROSS_ENTROPY = {"_target_": "lyricseg.losses.CrossEntropyLoss", "entropy_lambda": 0.0}


def write_run(
    folder: Path,
    loss: dict,
    epochs: list[dict[str, float]],
    overrides: list[str],
    fit_s: float = 12.0,
) -> Path:
    """A run folder as train.py leaves it: .hydra/, csv/metrics.csv, summary.json."""
    (folder / ".hydra").mkdir(parents=True)
    config = {"monitor": "val/boundary_f1", "monitor_mode": "max", "loss": loss}
    (folder / ".hydra/config.yaml").write_text(yaml.safe_dump(config))
    (folder / ".hydra/overrides.yaml").write_text(yaml.safe_dump(overrides))
    keys = sorted({k for row in epochs for k in row})
    (folder / "csv").mkdir()
    with open(folder / "csv/metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", "step", "lr-AdamW", *keys])
        writer.writeheader()
        for epoch, row in enumerate(epochs):
            step = 10 * (epoch + 1) - 1
            # Lightning writes validation and training values on separate rows of one step.
            writer.writerow(
                {
                    "epoch": epoch,
                    "step": step,
                    **{k: v for k, v in row.items() if k.startswith("val/")},
                }
            )
            writer.writerow(
                {
                    "epoch": epoch,
                    "step": step,
                    **{k: v for k, v in row.items() if k.startswith("train/")},
                }
            )
        # The learning rate is logged without an epoch, at the first step of each epoch.
        writer.writerow({"step": 0, "lr-AdamW": 0.002})
    summary = {
        "monitor": "val/boundary_f1",
        "epochs": len(epochs),
        "metrics": {"time/fit_s": fit_s, "time/featurize_s": 1.0},
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def val(f1: float, wd: float, rate: float = 0.3, conf: float = 0.2) -> dict[str, float]:
    return {
        "val/boundary_f1": f1,
        "val/window_diff": wd,
        "val/macro_f1": 0.7,
        "val/ece": 0.05,
        "val/pred_chorus_rate": rate,
        "val/conf_over_95": conf,
        "val/loss": 0.5,
    }


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "multiruns" / "2026-01-01_00-00-00"
    common = ["data=tiny", f"paths.log_dir={tmp_path}"]
    # 0: boundary-aware, separate mode. Contributions at the last epoch:
    # ce 0.5, boundary 0.5 * 0.02 = 0.01 (1.1%), consistency 2 * 0.2 = 0.4 (44%), confidence 0.
    write_run(
        root / "0",
        BOUNDARY_AWARE,
        [
            {
                **val(0.4, 0.4),
                "train/loss": 0.8,
                "train/loss/ce": 0.7,
                "train/loss/boundary": 0.1,
                "train/loss/consistency": 0.1,
                "train/loss/confidence": 0.0,
            },
            {
                **val(0.5, 0.3),
                "train/loss": 0.91,
                "train/loss/ce": 0.5,
                "train/loss/boundary": 0.02,
                "train/loss/consistency": 0.2,
                "train/loss/confidence": 0.0,
            },
        ],
        [*common, "loss=boundary_aware", "loss.boundary_weight=1.5"],
    )
    # 1: cross-entropy, no boundary term, best run.
    write_run(
        root / "1",
        CROSS_ENTROPY,
        [
            {**val(0.6, 0.25), "train/loss": 0.6, "train/loss/ce": 0.6},
            {**val(0.55, 0.27), "train/loss": 0.5, "train/loss/ce": 0.5},
        ],
        [*common, "loss=cross_entropy"],
    )
    # 2: collapsed to all-verse and saturated.
    write_run(
        root / "2",
        CROSS_ENTROPY,
        [{**val(0.0, 0.5, rate=0.0, conf=0.99), "train/loss": 0.4, "train/loss/ce": 0.4}],
        [*common, "optimizer.lr=0.5"],
    )
    # 3: a trial that crashed before logging anything.
    (root / "3" / ".hydra").mkdir(parents=True)
    (root / "3/.hydra/config.yaml").write_text(yaml.safe_dump({"loss": CROSS_ENTROPY}))
    (root / "3/.hydra/overrides.yaml").write_text(yaml.safe_dump([*common, "model.hidden_size=-1"]))
    (root / "optimization_results.yaml").write_text(
        yaml.safe_dump(
            {"name": "optuna", "best_params": {"loss": "cross_entropy"}, "best_value": 0.6}
        )
    )
    return root


def test_csv_history_by_epoch(sweep):
    run = load_run(sweep / "0")
    assert run.source == "csv"
    assert run.series("val/boundary_f1") == ([0, 1], [0.4, 0.5])
    assert run.history["lr-AdamW"] == {0: 0.002}
    assert run.best_epoch == 1 and run.n_epochs == 2
    assert run.wall_time_s == pytest.approx(13.0)


def test_contributions_use_the_config_weights(sweep):
    parts = contributions(load_run(sweep / "0"))
    assert parts == pytest.approx(
        {"ce": 0.5, "boundary": 0.01, "consistency": 0.4, "confidence": 0.0}
    )
    assert contributions(load_run(sweep / "1")) == pytest.approx({"ce": 0.5})


def test_comparison_rows_sorted_with_failed_run_last(sweep):
    rows = comparison_rows(load_runs([sweep]))
    assert [r["run"] for r in rows] == ["1", "0", "2", "3"]
    best = rows[0]
    assert best["best_boundary_f1"] == 0.6 and best["best_epoch"] == 0
    assert best["window_diff"] == 0.25  # at the best epoch, not the last
    assert best["overrides"] == ["loss=cross_entropy"]  # shared overrides factored out
    assert rows[-1]["status"].startswith("no metrics")
    assert rows[1]["boundary_share"] == pytest.approx(0.01 / 0.91)


def test_recommendations_in_plain_language(sweep):
    text = recommendations(
        load_runs([sweep]), {"best_params": {"loss": "cross_entropy"}, "best_value": 0.6}
    )
    assert "**Best run: `1`**" in text
    assert "raise `loss.boundary_weight` (now 1.5)" in text
    assert "lower `loss.segment_consistency_lambda` (now 2.0)" in text
    assert "collapse warning" in text and "all-verse" in text
    assert "over-confident" in text
    assert "`3` logged no metrics" in text
    assert "`loss=cross_entropy`" in text


def test_analyze_sweep_writes_every_artifact(sweep, tmp_path):
    written = analyze([sweep])
    out = sweep / "analysis"
    for name in (
        "comparison.md",
        "comparison.csv",
        "recommendations.md",
        "component_balance.png",
        "boundary_vs_f1.png",
        "f1_vs_windowdiff.png",
        "confidence_control.png",
    ):
        assert (out / name).is_file(), name
    assert {p.name for p in (out / "loss_components").iterdir()} == {"0.png", "1.png", "2.png"}
    assert written["comparison_md"] == out / "comparison.md"
    table = (out / "comparison.md").read_text()
    assert "| 1 | `loss=cross_entropy` | 0.600 | 0.250 |" in table
    with open(out / "comparison.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 4
    # A second analysis does not pick up the first one's output folder as a run.
    assert len(load_runs([sweep.parent])) == 4


def test_single_cross_entropy_run_without_hydra_folder(tmp_path):
    run_dir = write_run(
        tmp_path / "run",
        CROSS_ENTROPY,
        [{**val(0.3, 0.4), "train/loss": 0.5, "train/loss/ce": 0.5}],
        [],
    )
    for path in (run_dir / ".hydra").iterdir():
        path.unlink()
    (run_dir / ".hydra").rmdir()
    written = analyze([run_dir], out=tmp_path / "out")
    assert (tmp_path / "out" / "boundary_vs_f1.png").is_file()
    assert "(defaults)" in written["comparison_md"].read_text()


@pytest.mark.parametrize("content", [b"[" * 100_000, b'{"x": "\xff"}'])
def test_an_unreadable_summary_is_ignored_with_a_warning(tmp_path, caplog, content):
    run_dir = write_run(tmp_path / "run", CROSS_ENTROPY, [val(0.3, 0.4)], [])
    (run_dir / "summary.json").write_bytes(content)
    assert load_run(run_dir).summary is None
    assert "Ignoring unreadable" in caplog.text


def test_tensorboard_events(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    run_dir = tmp_path / "tb_run"
    writer = SummaryWriter(str(run_dir / "tensorboard"))
    for epoch, (f1, ce) in enumerate([(0.2, 0.9), (0.45, 0.6)]):
        step = 10 * epoch + 9
        for tag, value in {
            "epoch": epoch,
            "val/boundary_f1": f1,
            "val/window_diff": 0.3,
            "train/loss": ce,
            "train/loss/ce": ce,
        }.items():
            writer.add_scalar(tag, value, step)
    writer.add_scalar("lr-AdamW", 0.001, 0)
    writer.close()
    run = load_run(run_dir)
    assert run.source == "tensorboard"
    assert run.series("val/boundary_f1") == ([0, 1], pytest.approx([0.2, 0.45]))
    assert run.history["lr-AdamW"] == {0: pytest.approx(0.001)}
    assert run.wall_time_s is not None and run.wall_time_s >= 0
    assert load_runs([tmp_path])[0].name == "tb_run"


def test_no_runs_is_a_user_error(tmp_path):
    with pytest.raises(LyricsegError, match="no training runs found"):
        load_runs([tmp_path])


def test_cli_no_runs_exits_2_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lyricseg.analysis", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "no training runs found" in result.stderr


def test_sweep_results_file_is_read_as_data(tmp_path, monkeypatch):
    """An interpolation in a sweep's results file stays text: reading it reads no environment."""
    from lyricseg.analysis.report import read_sweep_results

    monkeypatch.setenv("LYRICSEG_TEST_SECRET", "leaked")
    (tmp_path / "optimization_results.yaml").write_text(
        yaml.safe_dump(
            {"name": "optuna", "best_value": 0.6, "note": "${oc.env:LYRICSEG_TEST_SECRET}"}
        )
    )
    results = read_sweep_results(tmp_path)
    assert results["best_value"] == 0.6 and results["note"] == "${oc.env:LYRICSEG_TEST_SECRET}"
