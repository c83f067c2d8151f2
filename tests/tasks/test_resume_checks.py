"""``train.py ckpt_path=``: a path training cannot resume from is one line, before Hydra runs.

Hydra takes over the run folder that ``ckpt_path`` points into (``<run>/checkpoints/…``)
before the task starts: it rewrites ``.hydra/`` and appends to the log. A mistyped, foreign
or remote path must be refused first, leaving the old run exactly as it was.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from support import TINY_MODEL, run_script

from lyricseg.checkpoint import CheckpointError, check_resume


def _snapshot(root: Path) -> dict[str, str]:
    """Every folder and file under ``root``, files by content hash."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "/"
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def old_run(tiny_checkpoint, tmp_path) -> Path:
    """A finished run's folder as training and Hydra leave it, the tiny model's outputs."""
    run = tmp_path / "logs/train/runs/old"
    shutil.copytree(tiny_checkpoint.parent.parent, run)
    (run / ".hydra").mkdir()
    (run / ".hydra/config.yaml").write_text("seed: 42\nmodel:\n  net:\n    hidden_size: 16\n")
    (run / ".hydra/overrides.yaml").write_text("- data=tiny\n- model.net.hidden_size=16\n")
    (run / "train.log").write_text("[lyricseg.training.task][INFO] - best epoch 2\n")
    assert (run / "checkpoints/last.ckpt").is_file()
    return run


def _resume(tmp_path: Path, ckpt_path: str, *extra: str):
    """The README's resume command on the tiny model's config (the run folder comes from it)."""
    return run_script(
        "train.py",
        f"paths.log_dir={tmp_path}/logs",
        f"paths.data_dir={tmp_path}/data",
        f"paths.cache_dir={tmp_path}/cache",
        "data=tiny",
        *TINY_MODEL,
        "trainer.max_epochs=3",
        "torch_threads=1",
        "callbacks.progress_bar=null",
        "+trainer.enable_progress_bar=false",
        f"ckpt_path={ckpt_path}",
        *extra,
        timeout=120,
    )


def _one_line_error(result) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("checkpoints/lats.ckpt", (), "checkpoint not found"),
        ("checkpoints/last.ckpt", ("model.net.hidden_size=24",), "holds another network"),
    ],
    ids=["typo", "other hidden_size"],
)
def test_a_bad_resume_path_leaves_the_old_run_untouched(old_run, tmp_path, name, extra, message):
    before = _snapshot(tmp_path)
    result = _resume(tmp_path, str(old_run / name), *extra)
    line = _one_line_error(result)
    assert message in line
    assert _snapshot(tmp_path) == before  # no file of the old run rewritten, none added


def test_a_remote_resume_path_is_refused_before_anything(tmp_path):
    result = _resume(tmp_path, "http://127.0.0.1:1/x.ckpt")
    assert "checkpoints are read from local files only" in _one_line_error(result)
    assert not (tmp_path / "logs").exists()  # no run folder was created


# --- check_resume itself -------------------------------------------------------------------


@pytest.fixture
def configured(make_cfg):
    """``(net, features)`` of the tiny model's config, resolved as training resolves them."""

    def _configured(*overrides: str) -> tuple[dict, dict]:
        cfg = make_cfg(*overrides)
        net = OmegaConf.to_container(cfg.model.net, resolve=True)
        return net, OmegaConf.to_container(cfg.features, resolve=True)

    return _configured


def test_the_run_last_checkpoint_resumes(tiny_checkpoint, configured):
    check_resume(tiny_checkpoint.parent / "last.ckpt", *configured())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("model.net.hidden_size=24",), "holds another network (model.net.hidden_size is 16 "),
        (("model.net.num_layers=2",), "holds another network (model.net.num_layers is 1 there"),
        (("model.net.sections=true",), "holds another network (model.net.sections"),
        (("features=fast",), "was trained on other features"),
    ],
    ids=["hidden_size", "num_layers", "sections", "features"],
)
def test_another_configuration_is_refused(tiny_checkpoint, configured, overrides, message):
    with pytest.raises(CheckpointError) as caught:
        check_resume(tiny_checkpoint.parent / "last.ckpt", *configured(*overrides))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_model_file_or_a_foreign_file_is_refused(tiny_checkpoint, configured, tmp_path):
    with pytest.raises(CheckpointError, match="is a model file, which holds no training state"):
        check_resume(tiny_checkpoint, *configured())
    plain = tmp_path / "plain.ckpt"
    torch.save({"weight": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="is not a lyricseg training checkpoint"):
        check_resume(plain, *configured())


def test_a_resume_checkpoint_is_checked_like_any_other(tiny_checkpoint, configured, tmp_path):
    """The record of a training checkpoint is data too: no interpolation passes."""
    data = torch.load(tiny_checkpoint.parent / "last.ckpt", weights_only=True)
    data["lyricseg"]["net"]["dropout"] = '${oc.create:"{_target_: os.mkdir}"}'
    crafted = tmp_path / "last.ckpt"
    torch.save(data, crafted)
    with pytest.raises(CheckpointError, match="refusing the stored record.net.dropout"):
        check_resume(crafted, *configured())


def test_a_url_is_refused_without_connecting(configured):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/last.ckpt"
        with pytest.raises(CheckpointError, match="checkpoints are read from local files only"):
            check_resume(url, *configured())
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
