"""The commands behave as people expect: usage, a bare path, typos, help, no stray folders."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from support import REPO, RESOURCES, run_script

from lyricseg.commands._hydra import expand_positional
from lyricseg.utils import LyricsegError


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def song_dir(tmp_path: Path) -> Path:
    """A working folder holding only song.txt."""
    shutil.copy2(RESOURCES / "song.txt", tmp_path / "song.txt")
    return tmp_path


# -- a bare path is the input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["song.txt", "-", "/tmp/my song, v2 [live].txt", "it's.txt", "a\\b\\", "${oops}.jsonl"],
)
def test_bare_path_becomes_input_and_reads_back_unchanged(path):
    (override,) = expand_positional([path], "input")
    parsed = OverridesParser.create().parse_override(override)
    assert parsed.key_or_group == "input"
    assert OmegaConf.create({"input": parsed.value()}).input == path


def test_hydra_flags_and_overrides_are_left_alone():
    args = ["-cn", "predict", "--info", "config", "format=tagged", "+x=1", "-m", "song.txt"]
    expanded = expand_positional(args, "input")
    assert expanded == ["input='song.txt'", *args[:-1]]
    assert expand_positional(["--help"], "input") == ["--help"]
    assert expand_positional(["song.txt"], None) == ["song.txt"]


@pytest.mark.parametrize("args", [["a.txt", "b.txt"], ["a.txt", "input=b.txt"]])
def test_two_inputs_are_an_error(args):
    with pytest.raises(LyricsegError, match="one input at a time"):
        expand_positional(args, "input")


# -- the commands, run as a user runs them -----------------------------------------------------


def test_predict_without_arguments_prints_the_usage(song_dir):
    result = run_script("predict.py", cwd=song_dir, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: lyricseg-predict"), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert files_under(song_dir) == {"song.txt"}


def test_predict_a_bare_path_writes_no_run_folder(song_dir):
    """``predict.py song.txt``: a table on stdout and nothing new in the folder."""
    result = run_script("predict.py", "song.txt", cwd=song_dir, timeout=180)
    assert result.returncode == 0, result.stderr
    lines = [line for line in (song_dir / "song.txt").read_text().splitlines() if line.strip()]
    rows = [row for row in result.stdout.splitlines() if row.strip()[:1].isdigit()]
    assert len(rows) == len(lines)
    assert files_under(song_dir) == {"song.txt"}


def test_log_dir_asks_for_a_log_file(song_dir):
    out = song_dir / "out.jsonl"
    result = run_script(
        "predict.py", "song.txt", f"output={out}", "log_dir=logs", cwd=song_dir, timeout=180
    )
    assert result.returncode == 0, result.stderr
    assert files_under(song_dir) == {"song.txt", "out.jsonl", "logs", "logs/predict.log"}
    assert f"Wrote 1 songs to {out}" in (song_dir / "logs" / "predict.log").read_text()


@pytest.mark.parametrize("output_format", ["tagged", "table"])
def test_several_songs_are_separated_by_their_ids(song_dir, output_format):
    """Tagged text (or tables) of a JSONL file: each song under a line with its id."""
    shutil.copy2(RESOURCES / "tiny" / "val.jsonl", song_dir / "songs.jsonl")
    result = run_script(
        "predict.py", "songs.jsonl", f"format={output_format}", cwd=song_dir, timeout=180
    )
    assert result.returncode == 0, result.stderr
    ids = ["tiny-v1", "tiny-v2", "tiny-v3", "tiny-v4"]
    marks = [line for line in result.stdout.splitlines() if line.startswith("==> ")]
    assert marks == [f"==> {i} <==" for i in ids]
    songs = result.stdout.split("\n\n==> ")
    assert len(songs) == len(ids) and songs[0].startswith("==> tiny-v1 <==\n")
    # One song alone is its text alone.
    one = run_script("predict.py", "song.txt", f"format={output_format}", cwd=song_dir)
    assert one.returncode == 0 and "==>" not in one.stdout, one.stderr


@pytest.mark.parametrize(
    ("script", "typo", "named"),
    [
        ("predict.py", "inptu=song.txt", "valid keys: paths, task_name, ckpt, input, "),
        ("train.py", "model.net.hiden_size=8", "no key 'hiden_size' in model.net; valid keys:"),
    ],
)
def test_a_typo_names_the_valid_keys(song_dir, script, typo, named):
    result = run_script(script, typo, cwd=song_dir, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and named in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert files_under(song_dir) == {"song.txt"}


def test_a_value_a_class_refuses_is_one_error_line(song_dir):
    """A constructor that refuses a config value (here the feature extractor) gives the key
    and the reason, exit status 2, no traceback."""
    result = run_script("train.py", "features.oov_sounds=bogus", cwd=song_dir, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
    assert line.startswith("error: data.features: oov_sounds is 'bogus'; choose one of none")


def test_a_threshold_that_is_not_a_probability_is_one_error_line(song_dir):
    result = run_script("predict.py", "song.txt", "threshold=abc", cwd=song_dir, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: threshold must be a number from 0 to 1, got 'abc'"
    )


def test_an_unknown_option_lists_the_options(song_dir):
    result = run_script("train.py", "model=bilstmm", cwd=song_dir, timeout=120)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "Available options in 'model': bilstm, bilstm_attention" in result.stderr


@pytest.mark.parametrize(
    ("command", "own", "usage"),
    [
        ("predict", ["input: ???", "format: auto", "log_dir: null"], "usage: lyricseg-predict"),
        ("serve", ["port=8000", "max_body_bytes=", "log_dir=DIR"], "usage: lyricseg-serve"),
    ],
)
def test_help_shows_the_commands_own_options(tmp_path, command, own, usage):
    cmd = [sys.executable, "-c", f"from lyricseg.commands.{command} import main; main()", "--help"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(usage)
    assert all(text in out.stdout for text in own)
    # No training groups (loss, model, trainer, ...): they are not this command's options.
    assert "Configuration groups" not in out.stdout and "loss:" not in out.stdout
    assert files_under(tmp_path) == set()


def readme_commands(command: str) -> list[str]:
    """The README's shell lines that run ``command`` (comments dropped)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in text.split("```bash\n")[1:]:
        block = block.split("```", 1)[0].replace("\\\n", " ")  # continued lines joined
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if command in line:
                lines.append(" ".join(line.split()))
    return lines


def test_readme_prediction_commands_run_as_written(song_dir):
    """Each ``lyricseg-predict`` line of the README (placeholders apart) runs as written."""
    shutil.copy2(RESOURCES / "tiny" / "val.jsonl", song_dir / "songs.jsonl")
    commands = [c for c in readme_commands("lyricseg-predict") if "<" not in c and "run1" not in c]
    assert "lyricseg-predict song.txt" in commands and len(commands) >= 4
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    script = f"{shlex.quote(sys.executable)} {shlex.quote(str(REPO / 'predict.py'))}"
    for command in commands:
        shell = command.replace("lyricseg-predict", script)
        done = subprocess.run(
            shell, shell=True, cwd=song_dir, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
        assert done.stdout.strip() or "output=" in command, command
    assert not (song_dir / "logs").exists()


TRAIN_COMMANDS = ("lyricseg-train", "python train.py")


def test_readme_training_commands_compose_as_written():
    """Every training line of the README composes (no unknown key, group or option).

    Placeholder paths need not exist to compose; ``<...>`` lines are templates. A multirun
    line composes once per job of its sweep; the first line, ``make train``'s command, runs
    in full in test_readme_first_training_runs_as_written.
    """
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    from lyricseg.commands.resolvers import register_resolvers

    register_resolvers()
    commands = [c for name in TRAIN_COMMANDS for c in readme_commands(name) if "<" not in c]
    assert "lyricseg-train" in commands and "lyricseg-train experiment=smoke" in commands
    assert any(" -m " in c for c in commands) and len(commands) >= 10
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for command in commands:
            args = shlex.split(command)[1 if command.startswith("lyricseg") else 2 :]
            args = [a for a in args if a not in ("-m", "--multirun")]
            parsed = OverridesParser.create().parse_overrides(args)
            (jobs,) = BasicSweeper.split_arguments(parsed, max_batch_size=None)
            assert len(jobs) == (3 if "loss=focal,tversky,compound" in command else 1)
            for job in jobs:
                cfg = compose(config_name="train", overrides=job, return_hydra_config=True)
                assert cfg.task_name == "train", command


@pytest.mark.slow  # a whole first training run: ~20 s on a quiet 2-core machine
def test_readme_first_training_runs_as_written(tmp_path):
    """``make train`` (``python train.py``, no argument) in a fresh folder learns the corpus."""
    import json

    assert readme_commands("lyricseg-train")[0] == "lyricseg-train"
    result = run_script("train.py", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (summary,) = (tmp_path / "logs" / "train" / "runs").glob("*/summary.json")
    summary = json.loads(summary.read_text())
    # Stopped once learned (best val boundary F1 0.95), well before max_epochs.
    assert summary["best_score"] >= 0.95 and summary["epochs"] < 20, summary["epochs"]
