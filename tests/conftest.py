"""Shared fixtures: config composition with tmp outputs, the tiny corpus, the real corpus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict
from support import CORPUS, REPO, TINY_MODEL, tmp_paths, train_tiny

from lyricseg.commands.resolvers import register_resolvers

# A config composed with its hydra node (return_hydra_config=True) uses the resolvers that
# the commands register; the library registers none.
register_resolvers()


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose the real ``train.yaml`` with tiny data, a small model and tmp outputs."""

    def _make(*overrides: str, config_name: str = "train") -> DictConfig:
        base = tmp_paths(tmp_path)
        if config_name == "train":
            base += [
                "data=tiny",
                *TINY_MODEL,
                "trainer.max_epochs=2",
                "callbacks.progress_bar=null",
                "callbacks.model_summary=null",
                "+trainer.enable_progress_bar=false",
                "+trainer.enable_model_summary=false",
            ]
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=[*base, *overrides])
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path / "run")
        return cfg

    return _make


@pytest.fixture
def corpus_dir() -> Path:
    """The real lyrics corpus; tests using it skip when it is absent."""
    if not (CORPUS / "train.jsonl").exists() or not (CORPUS / "val.jsonl").exists():
        pytest.skip(f"real corpus not found at {CORPUS} (set LYRICSEG_CORPUS_DIR to its folder)")
    return CORPUS


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny tensors run faster on one thread, and tests share two cores."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A model file (``best.ckpt``, Platt-calibrated) trained for 3 epochs on the tiny corpus."""
    _, objects = train_tiny(tmp_path_factory.mktemp("tiny_model"), "calibration=platt")
    return Path(objects["best_path"])
