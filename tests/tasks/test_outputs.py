"""Prediction and conversion never write over what the user gave, and fail whole on disk errors."""

import errno
import json
import os
import shutil

import pytest
from support import RESOURCES, TINY, run_script

from lyricseg.commands.convert import main as convert_main
from lyricseg.predict import run as predict_run

GOOD = RESOURCES / "headed" / "good"


def snapshot(directory):
    """Every file under ``directory`` with its bytes."""
    return {p: p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def assert_one_error_line(stderr, *fragments):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "songs.jsonl"
    shutil.copy(TINY / "val.jsonl", path)
    return path


def test_predict_input_equal_to_output_exits_2_and_keeps_the_input(tiny_checkpoint, corpus):
    before = corpus.read_bytes()
    result = run_script(
        "predict.py",
        f"ckpt={tiny_checkpoint}",
        f"input={corpus}",
        f"output={corpus}",
        f"hydra.run.dir={corpus.parent}/run",
    )
    assert result.returncode == 2
    assert_one_error_line(result.stderr, f"refusing to write {corpus}")
    assert corpus.read_bytes() == before
    assert not (corpus.parent / "songs.jsonl.metrics.json").exists()


def predict(make_cfg, capsys, *overrides):
    """Run the prediction task in-process; returns its exit status and stderr."""
    cfg = make_cfg(*overrides, config_name="predict")
    try:
        predict_run(cfg)
        status = 0
    except SystemExit as stop:
        status = stop.code
    return status, capsys.readouterr().err


def test_predict_refuses_outputs_on_its_inputs(tiny_checkpoint, corpus, tmp_path, make_cfg, capsys):
    model = tmp_path / "model.ckpt"
    shutil.copy(tiny_checkpoint, model)
    metrics_input = tmp_path / "out.jsonl.metrics.json"  # .json inputs are JSON lines
    shutil.copy(corpus, metrics_input)
    link = tmp_path / "link.jsonl"
    link.symlink_to(corpus)
    before = snapshot(tmp_path)
    cases = [
        (f"input={corpus}", f"output={model}"),  # the checkpoint
        (f"input={metrics_input}", f"output={tmp_path}/out.jsonl"),  # the metrics file beside
        (f"input={link}", f"output={corpus}"),  # the same file through a link
    ]
    for input_arg, output_arg in cases:
        status, err = predict(make_cfg, capsys, f"ckpt={model}", input_arg, output_arg)
        assert status == 2, (input_arg, output_arg)
        assert_one_error_line(err, "refusing to write")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("where", ["directory", "under_a_file"])
def test_predict_output_that_cannot_be_a_file(
    tiny_checkpoint, corpus, tmp_path, make_cfg, capsys, where
):
    output = tmp_path / "out" if where == "directory" else corpus / "out.jsonl"
    (tmp_path / "out").mkdir()
    status, err = predict(
        make_cfg, capsys, f"ckpt={tiny_checkpoint}", f"input={corpus}", f"output={output}"
    )
    assert status == 2
    reason = "it is a directory" if where == "directory" else f"{corpus} is a file"
    assert_one_error_line(err, f"cannot write {output}", reason)


@pytest.mark.parametrize(("failing_call", "code"), [(1, errno.ENOSPC), (2, errno.EROFS)])
def test_predict_on_a_failing_disk_writes_nothing(
    tiny_checkpoint, corpus, tmp_path, make_cfg, capsys, monkeypatch, failing_call, code
):
    """A full (or read-only) disk while writing the predictions or their metrics file."""
    out = tmp_path / "out.jsonl"
    out.write_text("old predictions\n")
    (tmp_path / "out.jsonl.metrics.json").write_text("{}\n")
    before = snapshot(tmp_path)
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == failing_call:
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    status, err = predict(
        make_cfg, capsys, f"ckpt={tiny_checkpoint}", f"input={corpus}", f"output={out}"
    )
    assert status == 2
    assert_one_error_line(err, "cannot write", os.strerror(code))
    assert snapshot(tmp_path) == before  # neither file replaced, no temporary file left


def convert(*argv):
    return convert_main([*map(str, argv), "--quiet"])


def test_convert_refuses_outputs_on_its_inputs(tmp_path, capsys):
    songs = tmp_path / "songs"
    shutil.copytree(GOOD, songs)
    song = songs / "plain_song.txt"
    section_map = tmp_path / "map.yaml"
    section_map.write_text("rules:\n  - class: chorus\n    patterns: ['chorus']\n")
    before = snapshot(tmp_path)
    cases = [
        ("is the input", song, "--out", song),
        ("is the input", songs, "--out", section_map, "--map", section_map),
        (
            "also given as the output",
            song,
            "--out",
            tmp_path / "c.jsonl",
            "--report",
            tmp_path / "c.jsonl",
        ),  # fmt: skip
        (
            "in the input directory",
            songs,
            "--out",
            tmp_path / "c.jsonl",
            "--report",
            songs / "report.json",
        ),  # fmt: skip
    ]
    for message, *argv in cases:
        assert convert(*argv) == 2, argv
        assert_one_error_line(capsys.readouterr().err, "refusing to write", message)
    assert snapshot(tmp_path) == before
    # A file the converter does not read may go into an input directory.
    assert convert(songs, "--out", songs / "corpus.jsonl") == 0
    assert json.loads((songs / "corpus.jsonl").read_text().splitlines()[0])["lines"]
