"""Paths and helpers shared by the tests (importable as ``support``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESOURCES = REPO / "tests" / "resources"
TINY = RESOURCES / "tiny"
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


def run_script(
    script: str, *args: str, cwd: Path | None = None, timeout: int = 300, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a root script (``train.py`` / ``predict.py``) in a subprocess."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        input=stdin,
    )
