import json
import logging
import re
import subprocess
import sys

import pytest
from support import REPO, RESOURCES

from lyricseg.commands.convert import main
from lyricseg.data import ingest as ingest_module
from lyricseg.data import read_jsonl
from lyricseg.data.ingest import convert_paths, write_corpus
from lyricseg.sections import SectionMap
from lyricseg.utils import LyricsegError

HEADED = RESOURCES / "headed"
GOOD = HEADED / "good"
BAD = HEADED / "bad"


@pytest.fixture(scope="module")
def smap():
    return SectionMap.load()


def convert_one(path, smap, **kwargs):
    records, report = convert_paths([path], smap, **kwargs)
    assert len(records) == 1
    return records[0], report


def test_headed_text_with_credits_multipliers_hook_refrain(smap):
    record, report = convert_one(GOOD / "moth_and_lamp.txt", smap)
    assert record == {
        "id": "moth_and_lamp",
        "lines": [
            "hm hm hm",
            "a moth came knocking on the lamp",
            "the porch was cold the boards were damp",
            "she circled twice and asked my name",
            "and I said wait",
            "burn slow little light",
            "burn slow through the night",
            "oh oh oh",
            "the jar is open on the sill",
            "burn slow little light",
            "keep the window wide",
            "and when the morning comes",
            "we fold the wings away",
        ],
        "labels": [0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0],
        "sections": [
            "Intro",
            "Verse 1",
            "Verse 1",
            "Verse 1",
            "Pre-Chorus",
            "Chorus x2",
            "Chorus x2",
            "Post-Chorus",
            "Verse 2",
            "Hook 2x",
            "Refrain",
            "Bridge/Outro",
            "Bridge/Outro",
        ],
        # a header line stands before 1, 4, 5, 7, 8, 9, 10, 11; a blank line before 3
        "breaks": [1, 3, 4, 5, 7, 8, 9, 10, 11],
    }
    assert report.sections == 9
    assert report.unmapped_lines == 0 and report.unmapped_headers == {}
    assert report.class_lines == {
        "intro": 1, "verse": 4, "pre-chorus": 1, "chorus": 4, "post-chorus": 1, "bridge": 2,
    }  # fmt: skip


def test_song_without_headers_is_written_and_counted(smap):
    record, report = convert_one(GOOD / "plain_song.txt", smap)
    assert record["lines"] == [
        "rain on the tin roof",
        "rain on the tin roof",
        "the kettle sings along",
    ]
    assert record["sections"] == ["", "", ""]
    assert record["labels"] == [0, 0, 0]
    assert record["breaks"] == [2]
    assert report.songs_without_headers == 1 and report.lines_without_header == 3
    assert report.unmapped_lines == 0 and report.unmapped_headers == {}


def test_empty_chorus_header_is_kept_as_written_by_default(smap):
    record, report = convert_one(GOOD / "empty_chorus.txt", smap)
    assert record["lines"] == [
        "paper boats go sailing", "sail away", "down the gutter to the sea", "every boat a letter",
    ]  # fmt: skip
    assert record["sections"] == ["Chorus", "Chorus", "Verse 1", "Verse 2"]
    assert record["labels"] == [1, 1, 0, 0]
    assert record["breaks"] == [2, 3]
    assert report.empty_headers == 2 and report.repeats_expanded == 0


def test_expand_repeats_copies_the_last_block_with_that_header(smap):
    record, report = convert_one(GOOD / "empty_chorus.txt", smap, expand_repeats=True)
    chorus = ["paper boats go sailing", "sail away"]
    assert record["lines"] == [
        *chorus, "down the gutter to the sea", *chorus, "every boat a letter", *chorus,
    ]  # fmt: skip
    assert record["sections"] == [
        "Chorus", "Chorus", "Verse 1", "Chorus", "Chorus", "Verse 2", "Chorus (x2)", "Chorus (x2)",
    ]  # fmt: skip
    assert record["labels"] == [1, 1, 0, 1, 1, 0, 1, 1]
    assert record["breaks"] == [2, 3, 5, 6]
    assert report.empty_headers == 2 and report.repeats_expanded == 2
    assert report.repeats_unresolved == 0


def test_expand_repeats_without_an_earlier_block(tmp_path, smap):
    path = tmp_path / "s.txt"
    path.write_text("[Chorus]\n\n[Verse]\nonly line\n")
    record, report = convert_one(path, smap, expand_repeats=True)
    assert record["lines"] == ["only line"]
    assert report.repeats_unresolved == 1


def test_lyricsgenius_dump_artifacts_and_unique_ids(smap):
    records, report = convert_paths([GOOD / "dump.json"], smap)
    assert [r["id"] for r in records] == [
        "the-invented-band-tin-robot",
        "the-invented-band-tin-robot-2",
    ]
    first, second = records
    assert first["lines"] == [
        "bolts and gears and a heart of foil",  # U+2005 became a plain space
        "clank clank tin robot",
        "clank clank all night",
    ]
    assert first["sections"] == ["Verse 1", "Chorus", "Chorus"]
    assert first["labels"] == [0, 1, 1] and first["breaks"] == [1]
    assert second["lines"] == ["clank clank tin robot", "rust on the elbow", "oil on the knee"]
    assert second["sections"] == ["Chorus", "Verse", "Verse"]
    assert second["labels"] == [1, 0, 0]
    assert second["breaks"] == [1]  # the dropped "You might also like" line is no stanza break
    assert report.artifacts_removed == {
        "title_line": 2, "embed": 2, "you_might_also_like": 2, "ticket_ad": 1,
    }  # fmt: skip


def test_single_song_json(smap):
    record, report = convert_one(GOOD / "single.json", smap)
    assert record == {
        "id": "lantern",
        "lines": ["carry the lantern low", "low low lantern"],
        "labels": [0, 1],
        "sections": ["Verse", "Refrain"],
        "breaks": [1],
    }
    assert report.artifacts_removed["title_line"] == 1 and report.artifacts_removed["embed"] == 1


def test_a_first_line_ending_in_lyrics_is_kept_without_a_header_after_it(tmp_path, smap):
    path = tmp_path / "s.txt"
    path.write_text("Sing Me Your Lyrics\nanother line\n")
    record, report = convert_one(path, smap)
    assert record["lines"] == ["Sing Me Your Lyrics", "another line"]
    assert report.artifacts_removed["title_line"] == 0


def test_crlf_and_bom_read_like_plain_text(tmp_path, smap):
    text = (GOOD / "moth_and_lamp.txt").read_text()
    path = tmp_path / "moth_and_lamp.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    expected, _ = convert_one(GOOD / "moth_and_lamp.txt", smap)
    got, _ = convert_one(path, smap)
    assert got == expected


def test_directories_are_read_recursively_with_an_unmapped_header(smap):
    records, report = convert_paths([GOOD], smap)
    assert [r["id"] for r in records] == [
        "the-invented-band-tin-robot", "the-invented-band-tin-robot-2", "empty_chorus",
        "moth_and_lamp", "phone_call", "plain_song", "lantern",
    ]  # fmt: skip
    phone = records[4]
    assert phone["sections"] == ["Phone Ringing", "Verse 1", "Chorus"]
    assert phone["labels"] == [0, 0, 1]  # unmapped: label 0, header kept
    assert report.files_read == 6 and report.songs_written == 7
    assert report.lines == sum(len(r["lines"]) for r in records)
    assert report.unmapped_lines == 1
    assert report.unmapped_headers == {
        "Phone Ringing": {"blocks": 1, "lines": 1, "first": f"{GOOD}/nested/phone_call.txt:1"}
    }


def test_strict_makes_an_unmapped_header_an_error(smap):
    with pytest.raises(LyricsegError, match=r"phone_call.txt:1: header 'Phone Ringing' .*--strict"):
        convert_paths([GOOD], smap, strict=True)
    convert_paths([GOOD / "moth_and_lamp.txt"], smap, strict=True)  # all mapped: fine


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("unclosed.txt", r"unclosed.txt:3: header line never closes '\['"),
        ("broken.json", r"broken.json:2: malformed JSON"),
        ("headers_only.txt", r"headers_only.txt: no lyric lines"),
    ],
)
def test_malformed_files_name_file_and_line(smap, name, message):
    with pytest.raises(LyricsegError, match=message):
        convert_paths([BAD / name], smap)


def test_more_malformed_inputs(tmp_path, smap):
    bad_utf8 = tmp_path / "latin.txt"
    bad_utf8.write_bytes(b"[Verse]\nfine line\ncaf\xe9 au lait\n")
    with pytest.raises(LyricsegError, match=r"latin.txt:3: invalid UTF-8"):
        convert_paths([bad_utf8], smap)
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps({"songs": [{"title": "A", "lyrics": "x"}, {"title": "B"}]}))
    with pytest.raises(LyricsegError, match=r"dump.json: song 2 \('B'\) has no 'lyrics'"):
        convert_paths([dump], smap)
    dump.write_text(json.dumps({"songs": [{"title": "A", "lyrics": "[Verse\nx"}]}))
    with pytest.raises(LyricsegError, match=r"dump.json: song 1 \('A'\), line 1: header line"):
        convert_paths([dump], smap)
    dump.write_text(json.dumps([1, 2]))
    with pytest.raises(LyricsegError, match="expected a lyricsgenius dump"):
        convert_paths([dump], smap)
    with pytest.raises(LyricsegError, match="no such file or directory"):
        convert_paths([tmp_path / "missing.txt"], smap)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LyricsegError, match=r"empty: no .txt or .json files"):
        convert_paths([tmp_path / "empty"], smap)


def test_records_read_back_as_a_corpus(tmp_path, smap):
    records, _ = convert_paths([GOOD], smap)
    out = tmp_path / "corpus.jsonl"
    write_corpus(out, records)
    songs = read_jsonl(out)
    assert [s.id for s in songs] == [r["id"] for r in records]
    assert [list(s.labels) for s in songs] == [r["labels"] for r in records]
    for record in records:
        n = len(record["lines"])
        assert len(record["sections"]) == len(record["labels"]) == n
        assert all(0 < b < n for b in record["breaks"])


def test_throughput_is_logged(smap, caplog):
    with caplog.at_level(logging.INFO, logger="lyricseg.data.ingest"):
        convert_paths([GOOD], smap)
    assert any("songs/s" in m and "lines/s" in m for m in caplog.messages)


def test_cli_writes_corpus_and_report(tmp_path, caplog):
    out, report_path = tmp_path / "out" / "corpus.jsonl", tmp_path / "report.json"
    with caplog.at_level(logging.INFO):
        status = main([str(GOOD), "--out", str(out), "--report", str(report_path)])
    assert status == 0
    assert len(out.read_text().splitlines()) == 7
    report = json.loads(report_path.read_text())
    assert report["songs_written"] == 7 and report["files_read"] == 6
    assert report["unmapped_headers"]["Phone Ringing"]["lines"] == 1
    assert any("Phone Ringing" in m for m in caplog.messages)  # stderr summary names it


def test_cli_map_option(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("rules:\n  - class: other\n    patterns: ['\\bphone\\b']\n")
    out = tmp_path / "c.jsonl"
    assert main([str(GOOD / "nested"), "--out", str(out), "--map", str(path), "--strict"]) == 2
    path.write_text(
        "rules:\n  - class: other\n    patterns: ['\\bphone\\b']\n"
        "  - class: verse\n    patterns: ['\\bverse\\b']\n"
        "  - class: chorus\n    patterns: ['\\bchorus\\b']\n"
    )
    assert main([str(GOOD / "nested"), "--out", str(out), "--map", str(path), "--strict"]) == 0
    assert json.loads(out.read_text())["labels"] == [0, 0, 1]


def test_cli_error_is_one_line_exit_2_and_keeps_the_old_output(tmp_path):
    out = tmp_path / "corpus.jsonl"
    out.write_text("old\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lyricseg.commands.convert",
            str(GOOD),
            "--out",
            str(out),
            "--strict",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {GOOD}/nested/phone_call.txt:1: header 'Phone Ringing' is not in the "
        f"section map {SectionMap.load().source} (--strict)"
    ]
    assert "Traceback" not in result.stderr
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl"]


def test_output_is_atomic_when_writing_fails_midway(tmp_path, smap, monkeypatch):
    records, _ = convert_paths([GOOD], smap)
    out = tmp_path / "corpus.jsonl"
    out.write_text("old\n")
    calls = []
    real_dumps = json.dumps

    def failing_dumps(obj, **kwargs):
        calls.append(obj)
        if len(calls) == 3:
            raise RuntimeError("disk went away")
        return real_dumps(obj, **kwargs)

    monkeypatch.setattr(ingest_module.json, "dumps", failing_dumps)
    with pytest.raises(RuntimeError, match="disk went away"):
        write_corpus(out, records)
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl"]


# -- robustness ---------------------------------------------------------------------------


def test_page_artifact_patterns_take_linear_time(tmp_path, smap):
    # Each of these lines took seconds to tens of seconds with backtracking patterns.
    import time

    path = tmp_path / "long.txt"
    digits = "1" * 20_000
    lines = ["a" + " " * 20_000 + "b", f"x {' ' * 20_000}Lyricsx", "1." + digits + "x", digits]
    path.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    record, _ = convert_one(path, smap)
    assert time.perf_counter() - started < 2.0
    assert len(record["lines"]) == 4
    # the page artifacts themselves are still removed
    path.write_text("Song Lyrics[Verse]\nthe last line12.5KEmbed\n")
    record, report = convert_one(path, smap)
    assert record["lines"] == ["the last line"]
    assert report.artifacts_removed["title_line"] == report.artifacts_removed["embed"] == 1


def test_symlinks_in_an_input_folder_are_skipped_and_counted(tmp_path, smap):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("[Verse]\nnot for the corpus\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "song.txt").write_text("[Chorus]\nla la\n")
    (tree / "link.txt").symlink_to(outside / "secret.txt")
    (tree / "sub" / "dir").symlink_to(outside, target_is_directory=True)
    records, report = convert_paths([tree], smap)
    assert [r["id"] for r in records] == ["song"]
    assert report.symlinks_skipped == 2
    assert report.as_dict()["symlinks_skipped"] == 2
    # a link named on the command line is the user's choice
    records, _ = convert_paths([tree / "link.txt"], smap)
    assert records[0]["lines"] == ["not for the corpus"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"title": "T\\ud800", "lyrics": "x"}', r"song 1: 'title' holds a lone surrogate"),
        ('{"title": "T", "lyrics": "[Verse]\\nx\\ud800"}', r"song 1: 'lyrics' holds a lone"),
        ('{"songs": [{"title": "T", "lyrics": "x", "artist": "\\udfff"}]}', "'artist' holds"),
        ("[" * 100_000, r"malformed JSON \(nested too deeply\)"),
        ('{"title": "T", "lyrics": "x", "n": ' + "1" * 5000 + "}", "malformed JSON"),
    ],
)
def test_json_input_that_cannot_be_written_back_is_one_error(tmp_path, capsys, content, message):
    path = tmp_path / "dump.json"
    path.write_text(content)
    out = tmp_path / "c.jsonl"
    assert main([str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}") and "Traceback" not in err[0]
    assert re.search(message, err[0]), err[0]
    assert not out.exists()


def test_text_is_split_at_newlines_only(tmp_path, smap):
    path = tmp_path / "s.txt"
    path.write_text("[Verse]\none\u2028two\x0cthree\x1cfour\r\nfive\n", newline="")
    record, _ = convert_one(path, smap)
    assert record["lines"] == ["one\u2028two\x0cthree\x1cfour", "five"]


def test_marked_headers_are_read_as_predict_reads_them(smap):
    # One parser of headed text: the converter and plain-text input agree.
    from lyricseg.data.songs import read_txt

    for path in sorted((RESOURCES / "headed_input").glob("*.txt")):
        record, _ = convert_one(path, smap)
        song = read_txt(path)
        assert tuple(record["lines"]) == song.lines
        assert tuple(record["sections"]) == (song.sections or ("",) * len(song))
        assert tuple(record["breaks"]) == (song.breaks or ())
