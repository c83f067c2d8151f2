import json
from pathlib import Path

import pytest

from lyricseg.data import DataError, read_jsonl, read_txt
from lyricseg.data.songs import parse_jsonl_bytes

GOOD = {"id": "a", "lines": ["one", "two"], "labels": [0, 1]}


def write(tmp_path: Path, *records: object, raw: bytes | None = None) -> Path:
    path = tmp_path / "corpus.jsonl"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records))
    return path


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([GOOD, "{not json"], "malformed JSON"),
        ([GOOD, {"id": "b", "labels": [0]}], "missing key 'lines'"),
        ([GOOD, {"lines": ["x"], "labels": [0]}], "missing key 'id'"),
        ([GOOD, {"id": "b", "lines": ["x"]}], "missing key 'labels'"),
        ([GOOD, {"id": "b", "lines": ["x", "y"], "labels": [0]}], "2 lines but 1 labels"),
        ([GOOD, {"id": "b", "lines": ["x"], "labels": [2]}], "labels must be 0 or 1"),
        ([GOOD, {"id": "b", "lines": ["x"], "labels": [True]}], "labels must be 0 or 1"),
        ([GOOD, {"id": "b", "lines": [], "labels": []}], "has no lines"),
        ([GOOD, {"id": "b", "lines": ["  ", ""], "labels": [0, 1]}], "has no lines"),
        ([GOOD, GOOD], "duplicate id 'a' (first seen on line 1)"),
        ([GOOD, [1, 2]], "expected a JSON object"),
        ([GOOD, {"id": "b", "lines": "x", "labels": [0]}], "'lines' must be a list of strings"),
    ],
)
def test_validation_errors_name_file_and_line(tmp_path, records, message):
    path = write(tmp_path, *records)
    with pytest.raises(DataError) as err:
        read_jsonl(path)
    assert f"{path}:2:" in str(err.value)
    assert message in str(err.value)


def test_invalid_utf8_names_line(tmp_path):
    path = write(tmp_path, raw=json.dumps(GOOD).encode() + b'\n{"id": "\xff"}\n')
    with pytest.raises(DataError, match=r"corpus.jsonl:2: invalid UTF-8"):
        read_jsonl(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_blank_lines_are_dropped_with_their_labels():
    data = json.dumps({"id": "s", "lines": ["a", " ", "b", ""], "labels": [0, 1, 1, 0]}).encode()
    (song,) = parse_jsonl_bytes(data, "x.jsonl")
    assert song.lines == ("a", "b")
    assert song.labels == (0, 1)


def test_labels_optional_for_prediction():
    data = json.dumps({"id": 3, "lines": ["a"]}).encode()
    (song,) = parse_jsonl_bytes(data, "x.jsonl", require_labels=False)
    assert song.id == "3" and song.labels is None


def test_read_txt_drops_blank_lines(tmp_path):
    path = tmp_path / "song.txt"
    path.write_text("first\n\n  \nsecond\n")
    song = read_txt(path)
    assert song.lines == ("first", "second") and song.id == "song"


def test_empty_txt_is_an_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n \n")
    with pytest.raises(DataError, match="no lines"):
        read_txt(path)
