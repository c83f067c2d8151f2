"""The built wheel, installed in a fresh virtualenv outside the repository, gives working commands.

The wheel is built from a copy of the sources (no stale ``build/`` folder can leak into it) and
installed with ``--no-deps`` into a new virtualenv; a ``.pth`` file added afterwards lets that
virtualenv import the dependencies already installed here (nothing is downloaded), while
``lyricseg`` itself comes from the wheel. Every command runs from a folder outside the
repository, so the config can only come from the package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import venv
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from support import REPO, RESOURCES, TINY_MODEL, free_port

COMMANDS = ("lyricseg-train", "lyricseg-predict", "lyricseg-serve")
PACKAGE = REPO / "src" / "lyricseg"
#: A tiny generated corpus, one epoch: seconds of training.
TINY_RUN = [
    "data.generator.n_train=16",
    "data.generator.n_val=8",
    "data.generator.n_test=4",
    "test=false",
    "trainer.max_epochs=1",
    "callbacks.progress_bar=null",
    "+trainer.enable_progress_bar=false",
    *TINY_MODEL,
]


def clean_env(warnings: bool = False) -> dict[str, str]:
    """The environment without anything that would point Python back at the repository.

    Python's warnings are ignored unless ``warnings`` (a user's first run shows them all).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "LYRICSEG_ROOT", "PYTHONHOME", "PYTHONWARNINGS")
    }
    return {**env, "HYDRA_FULL_ERROR": "1", **({} if warnings else {"PYTHONWARNINGS": "ignore"})}


def run(
    cmd: list[str], cwd: Path, timeout: int = 300, warnings: bool = False
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        cmd, cwd=cwd, env=clean_env(warnings), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{cmd[0]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> SimpleNamespace:
    """Build the wheel, install it into a new virtualenv; returns its paths."""
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(REPO.resolve())
    source = root / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "conf", source / "conf", ignore=ignore)
    # symlinks=True keeps src/lyricseg/conf a link to ../../conf, as in the repository.
    shutil.copytree(REPO / "src", source / "src", symlinks=True, ignore=ignore)
    dist = root / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), "."],
        source,
    )
    (wheel,) = dist.glob("lyricseg-*.whl")

    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], root)
    # Only now: had pip seen the repository's own (editable) lyricseg, it would skip the wheel.
    site = Path(
        run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], root
        ).stdout.strip()
    )
    (site / "_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    work = root / "work"
    work.mkdir()
    shutil.copy2(RESOURCES / "song.txt", work / "song.txt")
    return SimpleNamespace(wheel=wheel, bin=env_dir / "bin", python=python, site=site, work=work)


@pytest.fixture(scope="module")
def trained(installed) -> Path:
    """``lyricseg-train`` on a tiny generated corpus; returns the run folder."""
    run([str(installed.bin / "lyricseg-train"), *TINY_RUN], installed.work)
    (run_dir,) = (installed.work / "logs" / "train" / "runs").iterdir()
    return run_dir


def test_wheel_ships_config_data_and_commands(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    config = {
        f"lyricseg/conf/{p.relative_to(REPO / 'conf')}" for p in (REPO / "conf").rglob("*.yaml")
    }
    assert {"lyricseg/conf/train.yaml", "lyricseg/conf/predict.yaml"} <= config
    assert config <= names, sorted(config - names)
    data = [PACKAGE / "sections.yaml", *(PACKAGE / "serve" / "static").glob("*")]
    data += (PACKAGE / "pretrained").glob("*.ckpt")
    assert {f"lyricseg/{p.relative_to(PACKAGE)}" for p in data} <= names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(installed.wheel).read(entry_points).decode()
    assert "lyricseg-train = lyricseg.commands.train:main" in text
    assert "lyricseg-predict = lyricseg.commands.predict:main" in text
    assert "lyricseg-serve = lyricseg.commands.serve:main" in text
    for command in COMMANDS:
        assert os.access(installed.bin / command, os.X_OK), command


def test_lyricseg_is_imported_from_the_wheel(installed):
    out = run(
        [str(installed.python), "-c", "import lyricseg; print(lyricseg.__file__)"], installed.work
    )
    assert Path(out.stdout.strip()).is_relative_to(installed.site)


def test_train_uses_the_packaged_config(installed, trained):
    assert (trained / "checkpoints" / "best.ckpt").is_file()
    hydra_cfg = yaml.safe_load((trained / ".hydra" / "hydra.yaml").read_text())["hydra"]
    sources = [s["path"] for s in hydra_cfg["runtime"]["config_sources"]]
    assert str(installed.site / "lyricseg" / "conf") in sources
    assert not any(str(REPO) in s for s in sources)
    # paths.root_dir is where the command started: the corpus is generated there.
    assert (installed.work / "data" / "synthetic" / "train.jsonl").is_file()


def test_predict_with_the_trained_model(installed, trained):
    out = run(
        [
            str(installed.bin / "lyricseg-predict"),
            f"ckpt={trained / 'checkpoints' / 'best.ckpt'}",
            "input=song.txt",
        ],
        installed.work,
    )
    lines = [
        line for line in (installed.work / "song.txt").read_text().splitlines() if line.strip()
    ]
    rows = [row for row in out.stdout.splitlines() if row.strip()[:1].isdigit()]
    assert len(rows) == len(lines)
    assert all(row.split()[1] in ("verse", "chorus") for row in rows)
    assert not (installed.work / "logs" / "predict").exists(), "prediction wrote a run folder"


def test_tag_a_song_with_the_shipped_model(installed):
    """No ckpt=: the pretrained model inside the wheel tags the song, with sections."""
    out = run(
        [str(installed.bin / "lyricseg-predict"), "input=song.txt", "format=tagged"], installed.work
    )
    lines = [
        line.strip()
        for line in (installed.work / "song.txt").read_text().splitlines()
        if line.strip()
    ]
    blocks = out.stdout.strip().split("\n\n")
    assert [line for block in blocks for line in block.splitlines()[1:]] == lines
    assert all(block.startswith("[") for block in blocks)
    assert "[Chorus]" in out.stdout and "[Verse 1]" in out.stdout


def test_migrate_check_uses_the_packaged_config(installed):
    out = run(
        [
            str(installed.python),
            "-m",
            "lyricseg.migrate",
            str(RESOURCES / "old_configs" / "boundary_aware_full.yaml"),
            "--check",
        ],
        installed.work,
    )
    assert "Check passed" in out.stderr


def test_smoke_experiment_is_healthy_from_the_wheel(installed, tmp_path):
    """``experiment=smoke`` ("seconds: check an install") needs nothing but the package.

    It learns something (boundary F1 above 0), raises no collapse warning, and the console
    shows each line once, with no Python warning and no vendor tip.
    """
    work = tmp_path / "smoke"
    work.mkdir()
    out = run(
        [str(installed.bin / "lyricseg-train"), "experiment=smoke", "callbacks.progress_bar=null"],
        work,
        warnings=True,
    )
    (run_dir,) = (work / "logs" / "train" / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_score"] > 0.2, summary["best_score"]
    console = out.stdout + out.stderr
    assert "collapse" not in console
    assert "Warning" not in console and "deprecated" not in console, out.stderr
    assert "Tip" not in console and "litlogger" not in console
    info = [line for line in console.splitlines() if "Seed set to" in line]
    assert len(info) == 1, info
    assert out.stderr.strip() == "", out.stderr


def test_serve_answers_healthz(installed, trained):
    # A wheel without the service is the regression this test exists for: no skip.
    assert (installed.site / "lyricseg" / "serve" / "__main__.py").is_file(), (
        "the wheel has no lyricseg.serve"
    )
    help_text = run([str(installed.bin / "lyricseg-serve"), "--help"], installed.work).stdout
    assert help_text.startswith("usage: lyricseg-serve") and "port=8000" in help_text
    port = free_port()
    ckpt = trained / "checkpoints" / "best.ckpt"
    cmd = [str(installed.bin / "lyricseg-serve"), f"ckpt={ckpt}", f"port={port}"]
    server = subprocess.Popen(
        cmd,
        cwd=installed.work,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"lyricseg-serve exited:\n{server.stdout.read()[-4000:]}"
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=5
                ) as answer:
                    health = json.loads(answer.read())
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "no answer on /healthz within 120 s"
                time.sleep(0.5)
        assert answer.status == 200
        assert health["status"] == "ok" and health["checkpoint"] == ckpt.name
    finally:
        server.terminate()
        server.wait(timeout=30)
