"""Paths and helpers shared by the tests (importable as ``support``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from lightning.pytorch.callbacks import Callback

REPO = Path(__file__).resolve().parents[1]
RESOURCES = REPO / "tests" / "resources"
TINY = RESOURCES / "tiny"
#: The model shipped before verse/chorus conventions (format 2: no stored classes,
#: conventions or calibrator `_target_`), kept to test the upgrades on a real file.
FORMAT2_MODEL = RESOURCES / "format2-model.ckpt"
#: Overrides that make the tagger network tiny (fast tests).
TINY_MODEL = ["model.net.hidden_size=16", "model.net.projection_size=16", "model.net.num_layers=1"]
#: A tiny model with section heads and the break input, trained with the headed tiny corpus.
TINY_SECTIONED = [
    f"data.extra_dirs=[{RESOURCES / 'tiny_sections'}]",
    "model.net.sections=true",
    "model.net.breaks=true",
    "decoder=joint",
]
CORPUS = Path(os.environ.get("LYRICSEG_CORPUS_DIR", REPO.parent / "shared" / "data" / "lyrics"))


def tmp_paths(tmp_path: Path) -> list[str]:
    """Overrides that keep every output of a run under ``tmp_path``."""
    return [
        f"paths.root_dir={REPO}",
        f"paths.output_dir={tmp_path}/run",
        f"paths.log_dir={tmp_path}/logs",
        f"paths.data_dir={tmp_path}/data",
        f"paths.cache_dir={tmp_path}/cache",
    ]


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_tiny(tmp_path: Path, *overrides: str) -> tuple[dict, dict]:
    """Train in-process on the tiny corpus with a tiny model, outputs under ``tmp_path``."""
    from hydra import compose, initialize_config_dir

    from lyricseg.training.task import train

    base = [
        *tmp_paths(tmp_path),
        "data=tiny",
        *TINY_MODEL,
        "trainer.max_epochs=3",
        "callbacks.progress_bar=null",
        "callbacks.model_summary=null",
        "+trainer.enable_progress_bar=false",
    ]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*base, *overrides])
    return train(cfg)


def run_script(
    script: str, *args: str, cwd: Path | None = None, timeout: int = 300, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a root script (``train.py`` / ``predict.py``) in a subprocess."""
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "HYDRA_FULL_ERROR": "0",
        "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        input=stdin,
    )


class KillAtEpoch(Callback):
    """Kills its own training process (SIGKILL, no cleanup) as epoch ``epoch`` starts.

    ``+callbacks.kill._target_=support.KillAtEpoch +callbacks.kill.epoch=N`` crashes a
    training subprocess after N finished epochs (``PYTHONPATH`` must include ``tests/``).
    """

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


class RaiseAtEpoch(Callback):
    """Raises ``RuntimeError`` as epoch ``epoch`` starts: an in-process crash after N epochs."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError(f"crash at epoch {self.epoch}")


class ValidationWeights(Callback):
    """Keeps a copy of the network's weights as each validation epoch starts (``seen``).

    List it after the callback under test, whose hooks then run first.
    """

    def __init__(self):
        self.seen: list[dict] = []

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.seen.append({k: v.detach().clone() for k, v in pl_module.net.state_dict().items()})
