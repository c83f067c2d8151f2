"""Output helpers: outputs never land on inputs, and OS write errors become one clear line."""

import errno
import os
import tempfile

import pytest

from lyricseg.utils.io import (
    OutputError,
    atomic_write,
    atomic_write_files,
    check_outputs,
)


def fail_with(code):
    def raiser(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return raiser


@pytest.fixture
def song(tmp_path):
    path = tmp_path / "song.txt"
    path.write_text("la la\n")
    return path


def test_an_output_that_is_an_input_is_refused(song, tmp_path):
    with pytest.raises(OutputError, match="is the input"):
        check_outputs([song], [song])
    link = tmp_path / "link.txt"
    link.symlink_to(song)
    with pytest.raises(OutputError, match="is the input"):
        check_outputs([link], [song])
    hard = tmp_path / "hard.txt"
    os.link(song, hard)
    with pytest.raises(OutputError, match="is the input"):
        check_outputs([song], [hard])
    check_outputs([song, None, "-"], [tmp_path / "other.txt", None])


def test_an_output_given_twice_is_refused(tmp_path):
    out = tmp_path / "out.json"
    with pytest.raises(OutputError, match="also given as the output"):
        check_outputs([], [out, tmp_path / "." / "out.json"])


def test_an_output_inside_an_input_directory_is_refused_when_it_would_be_read(tmp_path):
    inputs = tmp_path / "songs"
    inputs.mkdir()
    with pytest.raises(OutputError, match="in the input directory"):
        check_outputs([inputs], [inputs / "deep" / "report.json"])
    reads_json = lambda path: path.suffix == ".json"  # noqa: E731
    with pytest.raises(OutputError, match="in the input directory"):
        check_outputs([inputs], [inputs / "report.json"], reads=reads_json)
    check_outputs([inputs], [inputs / "corpus.jsonl"], reads=reads_json)


def test_outputs_that_cannot_be_files_are_refused(song, tmp_path):
    with pytest.raises(OutputError, match="it is a directory"):
        check_outputs([], [tmp_path])
    with pytest.raises(OutputError, match=f"{song} is a file, not a directory"):
        check_outputs([], [song / "sub" / "out.jsonl"])
    with pytest.raises(OutputError, match="not a regular file"):
        check_outputs([], ["/dev/null"])


@pytest.mark.parametrize(
    ("target", "code"),
    [("os.fsync", errno.ENOSPC), ("os.replace", errno.ENOSPC), ("mkstemp", errno.EROFS)],
)
def test_a_refused_write_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, target, code):
    out = tmp_path / "new" / "dir" / "out.txt"
    if target == "mkstemp":
        monkeypatch.setattr(tempfile, "mkstemp", fail_with(code))
    else:
        monkeypatch.setattr(os, target.split(".")[1], fail_with(code))
    with pytest.raises(OutputError) as caught, atomic_write(out) as handle:
        handle.write("text")
    assert str(caught.value) == f"cannot write {out}: {os.strerror(code)}"
    assert list(tmp_path.iterdir()) == []  # no temporary file, no directory made for it


def test_several_files_are_written_all_or_none(tmp_path, monkeypatch):
    first, second = tmp_path / "a.jsonl", tmp_path / "a.jsonl.metrics.json"
    first.write_text("old\n")
    real_fsync, calls = os.fsync, []

    def fsync_fails_second(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_fails_second)
    with pytest.raises(OutputError, match=f"cannot write {second}: No space left"):
        atomic_write_files({first: "new\n", second: "{}\n"})
    assert first.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]
    monkeypatch.setattr(os, "fsync", real_fsync)
    atomic_write_files({first: "new\n", second: "{}\n"})
    assert first.read_text() == "new\n" and second.read_text() == "{}\n"
