r"""Text that cannot be used is refused by the whole process: exit 2, one line, no traceback.

Real subprocesses of ``predict.py`` and ``python -m lyricseg.commands.convert``: a lone surrogate
(``"\ud800"``, which JSON escapes decode to and no UTF-8 writer accepts; in a text file, its
bytes are invalid UTF-8) and JSON nested deeper than Python's recursion limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

#: ``"\ud800"`` as UTF-8 would encode it were it allowed (CESU-8): invalid UTF-8.
SURROGATE_BYTES = b"\xed\xa0\x80"
DEEP = 100_000


def run(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` from the repository root with this tree's package, bytes on stdin."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HYDRA_FULL_ERROR": "0"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, timeout=300, env=env, cwd=REPO
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
    )  # fmt: skip


def one_error_line(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit status 2 and exactly one ``error:`` line on stderr that contains ``message``."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and message in lines[0], lines[0]


PREDICT_INPUTS = {
    "lines": ("s.jsonl", b'{"id": "a", "lines": ["one", "two\\ud800"]}\n',
              "s.jsonl:1: 'lines' item 2 holds a lone surrogate (U+D800"),
    "txt": ("s.txt", b"one\ntwo" + SURROGATE_BYTES + b"\n", "s.txt:2: invalid UTF-8"),
    "stdin jsonl": ("-", b'{"id": "a", "lines": ["\\ud800"]}\n',
                    "<stdin>:1: 'lines' item 1 holds a lone surrogate"),
    "nested": ("s.jsonl", b'{"id": "a", "lines": ' + b'{"a":' * DEEP + b"\n",
               "s.jsonl:1: malformed JSON (nested too deeply)"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(PREDICT_INPUTS))
def test_predict_refuses_bad_text_in_one_line(tmp_path, case):
    name, data, message = PREDICT_INPUTS[case]
    source = "-" if name == "-" else tmp_path / name
    if name != "-":
        source.write_bytes(data)
    out = tmp_path / "out.jsonl"
    args = [f"input={source}", f"output={out}", f"hydra.run.dir={tmp_path}/run"]
    one_error_line(run(["predict.py", *args], stdin=data if name == "-" else None), message)
    assert not out.exists()


def run_converter(*args: str) -> subprocess.CompletedProcess[str]:
    return run(["-m", "lyricseg.commands.convert", *args])


CONVERT_INPUTS = {
    "lyrics": ("dump.json", b'{"title": "T", "lyrics": "[Verse]\\nx\\ud800"}',
               "dump.json: song 1: 'lyrics' holds a lone surrogate (U+D800"),
    "txt": ("song.txt", b"[Verse]\nx" + SURROGATE_BYTES + b"\n", "song.txt:2: invalid UTF-8"),
    "nested": ("dump.json", b'{"songs": ' + b"[" * DEEP, "malformed JSON (nested too deeply)"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CONVERT_INPUTS))
def test_converter_refuses_bad_text_in_one_line(tmp_path, case):
    name, data, message = CONVERT_INPUTS[case]
    source = tmp_path / name
    source.write_bytes(data)
    out = tmp_path / "corpus.jsonl"
    one_error_line(run_converter(str(source), "--out", str(out)), message)
    assert not out.exists()


def test_converter_reads_newlines_only_and_skips_symlinks(tmp_path: Path):
    # The whole command: U+2028 / form feed stay inside a line; a link out of the tree is
    # skipped and counted in the report.
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "song.txt").write_bytes("[Verse]\none\u2028two\x0cthree\n".encode())
    (tmp_path / "secret.txt").write_text("[Verse]\nprivate\n")
    (tree / "link.txt").symlink_to(tmp_path / "secret.txt")
    out, report = tmp_path / "corpus.jsonl", tmp_path / "report.json"
    result = run_converter(str(tree), "--out", str(out), "--report", str(report), "--quiet")
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n")[:-1]]
    assert record["lines"] == ["one\u2028two\x0cthree"]
    assert json.loads(report.read_text())["symlinks_skipped"] == 1


def test_converter_refuses_a_map_with_a_key_given_twice(tmp_path):
    section_map = tmp_path / "map.yaml"
    section_map.write_text(
        "rules:\n  - {class: verse, patterns: [v]}\nrules:\n  - {class: chorus, patterns: [c]}\n"
    )
    (tmp_path / "song.txt").write_text("[Verse]\nla la\n")
    out = tmp_path / "corpus.jsonl"
    result = run_converter(str(tmp_path / "song.txt"), "--out", str(out), "--map", str(section_map))
    one_error_line(result, "map.yaml:3: invalid YAML in section map (key 'rules' given twice")
    assert not out.exists()
