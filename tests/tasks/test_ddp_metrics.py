"""Validation metrics under trainer=ddp_cpu (2 processes) equal the single-process ones."""

import json
import textwrap

import pytest
from support import REPO, TINY, TINY_MODEL, run_script, tmp_paths

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from lyricseg.training.task import build_model

    trainer_name, out, ckpt, *overrides = sys.argv[1:]
    with initialize_config_dir(config_dir="{conf}", version_base="1.3"):
        cfg = compose("train", overrides=[f"trainer={{trainer_name}}", *overrides])
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    model = build_model(cfg, dm)
    model.load_state_dict(torch.load(ckpt, weights_only=True)["state_dict"])
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[], enable_progress_bar=False)
    (metrics,) = trainer.validate(model, datamodule=dm)
    if trainer.is_global_zero:
        json.dump(metrics, open(out, "w"))
    """
)


@pytest.mark.timeout(600)
def test_ddp_cpu_validation_metrics_equal_single_process(tmp_path):
    overrides = [
        *tmp_paths(tmp_path),
        "data=tiny",
        *TINY_MODEL,
        "callbacks.progress_bar=null",
        "+trainer.enable_progress_bar=false",
        "calibration=none",
        "test=false",
        "trainer.max_epochs=2",
    ]
    trained = run_script("train.py", *overrides)
    assert trained.returncode == 0, trained.stderr[-2000:]
    ckpt = tmp_path / "run/checkpoints/best-state.ckpt"
    # 4 val songs split 2 + 2: no sampler padding, so both runs see each song exactly once.
    assert len((TINY / "val.jsonl").read_text().splitlines()) % 2 == 0
    script = tmp_path / "validate.py"
    script.write_text(SCRIPT.format(conf=REPO / "conf"))
    results = {}
    for name in ("cpu", "ddp_cpu"):
        out = tmp_path / f"{name}.json"
        result = run_script(str(script), name, str(out), str(ckpt), *overrides, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        results[name] = json.loads(out.read_text())
    single, ddp = results["cpu"], results["ddp_cpu"]
    metric_keys = [k for k in single if k.startswith("val/") and "/loss" not in k]
    assert "val/boundary_f1" in metric_keys and "val/window_diff" in metric_keys
    for key in metric_keys:
        assert ddp[key] == pytest.approx(single[key], abs=1e-6), key
