import json
from pathlib import Path

import pytest

from lyricseg.data import DataError, read_jsonl, read_songs, read_txt
from lyricseg.data.songs import is_jsonl_path, parse_jsonl_bytes

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


# -- stanza breaks and sections ------------------------------------------------------------


def parse_one(record: dict, require_labels: bool = False):
    (song,) = parse_jsonl_bytes(json.dumps(record).encode(), "x.jsonl", require_labels)
    return song


def brute_breaks(lines: list[str]) -> tuple[int, ...]:
    """Breaks by definition: a kept line (not the first) with a blank line right before it."""
    kept = [i for i, line in enumerate(lines) if line.strip()]
    return tuple(k for k, i in enumerate(kept) if k > 0 and not lines[i - 1].strip())


def test_blank_lines_become_breaks_with_labels_and_sections_aligned():
    record = {
        "id": "s",
        "lines": ["", "a", "b", "", " ", "c", "", "d", ""],
        "labels": [0, 0, 0, 0, 0, 1, 1, 1, 0],
        "sections": ["", "Verse 1", "Verse 1", "", "", "Chorus", "", "Bridge", ""],
    }
    song = parse_one(record)
    assert song.lines == ("a", "b", "c", "d")
    assert song.labels == (0, 0, 1, 1)
    assert song.sections == ("Verse 1", "Verse 1", "Chorus", "Bridge")
    assert song.breaks == (2, 3)  # the leading and trailing blank lines mark nothing


def test_breaks_match_their_definition_on_random_layouts():
    import random

    rng = random.Random(3)
    for _ in range(300):
        lines = [rng.choice(["", " ", "x", "y z"]) for _ in range(rng.randint(1, 12))]
        if not any(line.strip() for line in lines):
            continue
        song = parse_one({"id": "r", "lines": lines})
        has_blank = any(not line.strip() for line in lines)
        assert song.breaks == (brute_breaks(lines) if has_blank else None)


def test_no_blank_line_and_no_breaks_key_means_unknown():
    song = parse_one({"id": "s", "lines": ["a", "b"]})
    assert song.breaks is None and song.sections is None


def test_only_edge_blank_lines_give_known_empty_breaks():
    assert parse_one({"id": "s", "lines": ["", "a", "b", " "]}).breaks == ()


def test_explicit_breaks_are_kept():
    song = parse_one({"id": "s", "lines": ["a", "b", "c"], "breaks": [1, 2]})
    assert song.breaks == (1, 2)
    assert parse_one({"id": "s", "lines": ["a", "b"], "breaks": []}).breaks == ()
    assert parse_one({"id": "s", "lines": ["a", "b"], "breaks": None}).breaks is None


def test_explicit_breaks_that_agree_with_blank_lines_are_accepted():
    song = parse_one({"id": "s", "lines": ["a", "", "b", "c"], "breaks": [1]})
    assert song.breaks == (1,)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"breaks": [0]}, "has break 0; breaks must be indices of its non-blank lines in [1, 3)"),
        ({"breaks": [3]}, "has break 3; breaks must be indices"),
        ({"breaks": [-1]}, "has break -1"),
        ({"breaks": [2, 1]}, "'breaks' not sorted and unique"),
        ({"breaks": [1, 1]}, "'breaks' not sorted and unique"),
        ({"breaks": [1.0]}, "'breaks' must be a list of line indices"),
        ({"breaks": [True]}, "'breaks' must be a list of line indices"),
        ({"breaks": "1"}, "'breaks' must be a list of line indices"),
        ({"sections": ["V", "V"]}, "song 'b' has 3 lines but 2 sections"),
        ({"sections": ["V", "V", 1]}, "'sections' must be a list of strings"),
        ({"sections": "Verse"}, "'sections' must be a list of strings"),
    ],
)
def test_breaks_and_sections_errors_name_file_and_line(tmp_path, extra, message):
    record = {"id": "b", "lines": ["x", "y", "z"], "labels": [0, 0, 1], **extra}
    path = write(tmp_path, GOOD, record)
    with pytest.raises(DataError) as err:
        read_jsonl(path)
    assert f"{path}:2:" in str(err.value)
    assert message in str(err.value)


def test_explicit_breaks_that_contradict_blank_lines_are_rejected(tmp_path):
    record = {"id": "b", "lines": ["x", "", "y", "z"], "breaks": [2]}
    path = write(tmp_path, GOOD, record)
    with pytest.raises(DataError) as err:
        read_jsonl(path, require_labels=False)
    assert f"{path}:2:" in str(err.value)
    assert "'breaks' [2] but its blank lines mark [1]" in str(err.value)


def test_breaks_are_checked_against_the_kept_lines(tmp_path):
    # 4 entries but 3 non-blank lines: break 3 would point past the last kept line
    path = write(tmp_path, {"id": "b", "lines": ["x", "y", "z", ""], "breaks": [3]})
    with pytest.raises(DataError, match=r"corpus.jsonl:1: .* in \[1, 3\)"):
        read_jsonl(path, require_labels=False)


def test_write_jsonl_round_trips_breaks_and_sections(tmp_path):
    from lyricseg.data import Song, write_jsonl

    songs = [
        Song("a", ("x", "y", "z"), (0, 1, 1), breaks=(1,), sections=("Verse", "Chorus", "Chorus")),
        Song("b", ("x", "y"), breaks=()),
        Song("c", ("x",), (1,)),
    ]
    path = tmp_path / "out.jsonl"
    write_jsonl(path, songs)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert "breaks" not in records[2] and "sections" not in records[2]
    assert records[1]["breaks"] == []
    assert read_jsonl(path, require_labels=False) == songs


def test_read_txt_blank_lines_become_breaks(tmp_path):
    path = tmp_path / "song.txt"
    path.write_text("\nfirst\nsecond\n\n  \nthird\n\n")
    song = read_txt(path)
    assert song.lines == ("first", "second", "third")
    assert song.breaks == (2,)
    path.write_text("first\nsecond\n")
    assert read_txt(path).breaks is None  # no blank line: the breaks are unknown
    path.write_text("\nfirst\nsecond\n\n")
    assert read_txt(path).breaks is None  # blank lines at the edges separate nothing


# -- input format by suffix and content, byte-order mark --------------------------------

BOM = b"\xef\xbb\xbf"
RECORD = {"id": "r1", "lines": ["one", "two"]}


def jsonl_bytes(*records: dict) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


@pytest.mark.parametrize("name", ["c.jsonl", "c.ndjson", "c.json", "C.JSONL", "c.Json"])
def test_json_lines_suffixes_any_case(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(jsonl_bytes(RECORD, {"id": "r2", "lines": ["x"]}))
    assert [s.id for s in read_songs(path)] == ["r1", "r2"]


@pytest.mark.parametrize("name", ["song.txt", "song", "song.lyrics", "song.TXT"])
def test_other_suffixes_are_one_text_song(tmp_path, name):
    path = tmp_path / name
    path.write_text("hello there\n{not json}\n")
    (song,) = read_songs(path)
    assert song.lines == ("hello there", "{not json}") and song.id == "song"


def test_bom_is_accepted_in_json_lines(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(BOM + jsonl_bytes(RECORD))
    (song,) = read_songs(path)
    assert song.id == "r1" and song.lines == ("one", "two")
    assert read_jsonl(path, require_labels=False) == [song]


def test_bom_is_not_kept_in_the_first_text_line(tmp_path):
    path = tmp_path / "song.txt"
    path.write_bytes(BOM + b"first line\nsecond\n")
    (song,) = read_songs(path)
    assert song.lines == ("first line", "second")
    assert read_txt(path).lines[0] == "first line"


def test_bom_only_line_counts_as_blank(tmp_path):
    path = tmp_path / "song.txt"
    path.write_bytes(BOM + b"\nfirst\n")
    assert read_txt(path).lines == ("first",)


@pytest.mark.parametrize(
    "content",
    [
        b"just a lyric line\nanother line\n",
        b'\n\n["a", "list"]\n',
        b'[\n  {"id": "a", "lines": ["x"]}\n]\n',
        b'"a string"\n',
    ],
)
def test_json_lines_suffix_on_other_content_is_one_clear_error(tmp_path, content):
    path = tmp_path / "songs.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_songs(path)
    message = str(err.value)
    assert message.startswith(f"{path}:")
    assert "expected JSON lines" in message and "not a JSON object" in message
    assert ".txt" in message  # says how to fix it


def test_json_lines_suffix_error_names_the_first_non_blank_line(tmp_path):
    path = tmp_path / "songs.json"
    path.write_bytes(b"\n  \nplain text\n")
    with pytest.raises(DataError, match=r"songs.json:3: expected JSON lines"):
        read_songs(path)


@pytest.mark.parametrize(
    ("content", "lineno"), [(b"{broken\n", 1), (jsonl_bytes(RECORD) + b"{x\n", 2)]
)
def test_broken_records_keep_their_own_error(tmp_path, content, lineno):
    path = tmp_path / "songs.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"songs.jsonl:{lineno}: malformed JSON"):
        read_songs(path)


@pytest.mark.parametrize("prefix", [b"", BOM])
def test_text_suffix_on_json_lines_is_one_clear_error(tmp_path, prefix):
    path = tmp_path / "songs.txt"
    path.write_bytes(prefix + jsonl_bytes(RECORD, {"id": "r2", "lines": ["x"]}) + b"\n")
    with pytest.raises(DataError) as err:
        read_songs(path)
    message = str(err.value)
    assert message.startswith(f"{path}: expected one plain-text song")
    assert "rename the file to .jsonl" in message


@pytest.mark.parametrize(
    "content",
    [
        b'{"title": "no lines key"}\n',  # JSON objects, but not song records
        jsonl_bytes(RECORD) + b"a lyric line\n",  # not every line is a record
    ],
)
def test_text_that_merely_contains_json_is_read_as_text(tmp_path, content):
    path = tmp_path / "song.txt"
    path.write_bytes(content)
    (song,) = read_songs(path)
    assert len(song.lines) == len([x for x in content.split(b"\n") if x.strip()])


def set_stdin(monkeypatch, data: bytes) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize("prefix", [b"", BOM, b"\n  \n"])
def test_stdin_json_lines_by_content(monkeypatch, prefix):
    set_stdin(monkeypatch, prefix + jsonl_bytes(RECORD, {"id": "r2", "lines": ["x"]}))
    assert [s.id for s in read_songs("-")] == ["r1", "r2"]


@pytest.mark.parametrize("prefix", [b"", BOM])
def test_stdin_text_by_content(monkeypatch, prefix):
    set_stdin(monkeypatch, prefix + b"first line\n\nsecond line\n")
    (song,) = read_songs("-")
    assert song.id == "stdin"
    assert song.lines == ("first line", "second line") and song.breaks == (1,)


def test_stdin_json_lines_errors_name_stdin_and_line(monkeypatch):
    set_stdin(monkeypatch, jsonl_bytes(RECORD) + b'{"id": "r2"}\n')
    with pytest.raises(DataError, match=r"<stdin>:2: missing key 'lines'"):
        read_songs("-")


def test_missing_input_is_a_clear_error(tmp_path):
    for name in ("nope.jsonl", "nope.txt"):
        with pytest.raises(DataError, match=f"cannot read .*{name}"):
            read_songs(tmp_path / name)


def test_is_jsonl_path():
    assert is_jsonl_path("a/b.JSONL") and is_jsonl_path("x.ndjson") and is_jsonl_path("x.json")
    assert not is_jsonl_path("x.txt") and not is_jsonl_path("-") and not is_jsonl_path("jsonl")


# -- text edge cases ------------------------------------------------------------------------

LONE = "\ud800"


@pytest.mark.parametrize(
    ("record", "what"),
    [
        ({"id": "b", "lines": ["x", f"y{LONE}"]}, "'lines' item 2 holds a lone surrogate"),
        ({"id": f"b{LONE}", "lines": ["x"]}, "'id' holds a lone surrogate"),
        ({"id": "b", "lines": ["x"], "sections": [LONE]}, "'sections' item 1 holds a lone"),
    ],
)
def test_lone_surrogates_are_refused_naming_the_line(tmp_path, record, what):
    # json.dumps writes the escape "\ud800", which json.loads turns back into a lone surrogate
    # that no UTF-8 writer accepts.
    path = write(tmp_path, RECORD, record)
    with pytest.raises(DataError, match=rf"corpus.jsonl:2: {what}"):
        read_songs(path)


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x0c", "\x0b", "\x85", "\x1c", "\x1e", "\r"])
def test_text_lines_are_split_at_newlines_only(tmp_path, char):
    path = tmp_path / "song.txt"
    path.write_bytes(f"one{char}two\r\nthree\n".encode())
    (song,) = read_songs(path)
    assert song.lines == (f"one{char}two", "three")


def test_split_lines():
    from lyricseg.data.songs import split_lines

    assert split_lines("a\r\nb\n\nc\n") == ["a", "b", "", "c"]
    assert split_lines("a\u2028b") == ["a\u2028b"]
    assert split_lines("") == [""]


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deeply_nested_json_is_a_data_error_naming_the_line(tmp_path, monkeypatch, opening):
    deep = opening * 100_000
    path = write(tmp_path, RECORD, deep)
    with pytest.raises(DataError, match=r"corpus.jsonl:2: malformed JSON \(nested too deeply\)"):
        read_songs(path)
    text = tmp_path / "song.txt"  # sniffing a text file's lines as JSON must not fail either
    text.write_text(f"{deep}\n")
    assert read_songs(text)[0].lines == (deep,)
    set_stdin(monkeypatch, f"{deep}\n".encode())
    if opening == "[":  # not an object: a (strange) lyric line
        assert read_songs("-")[0].lines == (deep,)
    else:  # the start of a JSON record on standard input
        with pytest.raises(DataError, match=r"<stdin>:1: malformed JSON \(nested too deeply\)"):
            read_songs("-")


def test_an_integer_too_long_to_convert_is_a_data_error(tmp_path):
    path = write(tmp_path, RECORD, '{"id": ' + "1" * 5000 + ', "lines": ["x"]}')
    with pytest.raises(DataError, match=r"corpus.jsonl:2: malformed JSON"):
        read_songs(path)


# -- headers in plain text ------------------------------------------------------------------


def test_text_without_blank_lines_has_unknown_breaks_like_a_list():
    from lyricseg.data.songs import parse_record, parse_text_bytes

    text = parse_text_bytes(b"one\ntwo\nthree\n", "x.txt", "s")
    listed = parse_record({"id": "s", "lines": ["one", "two", "three"]}, "x", False)
    assert text == listed and text.breaks is None


def test_header_lines_become_breaks_and_sections():
    from lyricseg.data.songs import parse_text_bytes

    data = b"intro line\n[Verse 1: Someone]\na\nb\n\nc\n(Chorus)\nd\n(oh oh)\n[Chorus]\n"
    song = parse_text_bytes(data, "x.txt", "s")
    assert song.lines == ("intro line", "a", "b", "c", "d", "(oh oh)")
    assert song.sections == ("", "Verse 1", "Verse 1", "Verse 1", "Chorus", "Chorus")
    assert song.breaks == (1, 3, 4)
    kept = parse_text_bytes(data, "x.txt", "s", headers="keep")
    assert kept.lines[1] == "[Verse 1: Someone]" and len(kept) == 9
    assert kept.sections is None and kept.breaks == (4,)
    with pytest.raises(DataError, match="'drop' is not one of strip, keep"):
        parse_text_bytes(data, "x.txt", "s", headers="drop")


def test_a_text_of_headers_only_has_no_lines():
    from lyricseg.data.songs import parse_text_bytes

    with pytest.raises(DataError, match="x.txt: the song has no lines"):
        parse_text_bytes(b"[Chorus]\n(Verse 2)\n", "x.txt", "s")
