"""The Python API: Segmenter and Segmentation, checked against the predictor and song reader."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys

import pytest
from support import REPO, RESOURCES

import lyricseg
from lyricseg import api, checkpoint
from lyricseg.data.songs import read_songs
from lyricseg.inference import Predictor, Segmentation, Span, format_songs
from lyricseg.utils.errors import LyricsegError

SONG = (RESOURCES / "song.txt").read_text()


@pytest.fixture(scope="module")
def seg(tiny_checkpoint):
    return api.Segmenter.load(tiny_checkpoint)


@pytest.fixture(scope="module")
def reference(tiny_checkpoint):
    return Predictor.from_checkpoint(tiny_checkpoint)


def test_import_lyricseg_stays_light():
    code = (
        "import sys, lyricseg\n"
        "assert 'torch' not in sys.modules and 'lyricseg.api' not in sys.modules\n"
        "assert 'Segmenter' in dir(lyricseg)\n"
        "seg = lyricseg.Segmenter\n"
        "assert seg is sys.modules['lyricseg.api'].Segmenter\n"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Segmentor'"):
        lyricseg.Segmentor  # noqa: B018
    assert lyricseg.Segmentation is api.Segmentation


def test_docstring_examples_run_on_the_shipped_model_path(monkeypatch, tiny_checkpoint):
    monkeypatch.setattr(checkpoint, "pretrained_path", lambda: tiny_checkpoint)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(verbose=False)
    tests = [t for t in finder.find(api, "lyricseg.api") if t.examples]
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted >= 8
    assert results.failed == 0


def test_text_is_read_as_a_song_file_is(seg, reference, tmp_path):
    path = tmp_path / "song-1.txt"
    path.write_text(SONG)
    (expected,) = reference.predict(read_songs(path))
    result = seg(SONG)
    assert result == expected  # the one record type, from the API and the engine alike
    assert len(result) == 10 and result.lines[2] == "Hold on hold on"
    assert result.sections is None and result.section_starts is None  # no section heads


def test_blank_lines_are_stanza_breaks():
    song = api.song_from_input("  first\n\n\nsecond  \n \nthird\n\n", "song 1", "s")
    assert song.lines == ("first", "second", "third")
    assert song.breaks == (1, 2)
    from_lines = api.song_from_input({"lines": ["first", "", "second"]}, "song 1", "s")
    assert from_lines.lines == ("first", "second") and from_lines.breaks == (1,)


def test_input_forms_and_ids(seg, reference, tmp_path):
    lines = ["One more time", "", "One more time", "Never again"]
    results = seg.predict_batch(
        [
            SONG,
            lines,
            {"id": "given", "lyrics": SONG},
            {"id": 12, "lines": lines},
            {"lines": ("a", "b"), "labels": [0, 1]},
        ]
    )
    assert [r.id for r in results] == ["song-1", "song-2", "given", "12", "song-5"]
    # The same songs read from files by the song reader, tagged together.
    (tmp_path / "song-1.txt").write_text(SONG)
    (tmp_path / "given.txt").write_text(SONG)
    corpus = tmp_path / "corpus.jsonl"
    records = [
        {"id": "song-2", "lines": lines},
        {"id": "12", "lines": lines},
        {"id": "song-5", "lines": ["a", "b"]},
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    read = read_songs(corpus)
    songs = [*read_songs(tmp_path / "song-1.txt"), read[0], *read_songs(tmp_path / "given.txt")]
    assert results == reference.predict([*songs, *read[1:]])
    assert seg.predict_batch([]) == []


def test_threshold_decides_on_the_probability(seg):
    result = seg(SONG, threshold=0.5)
    assert result.labels == tuple(int(p >= 0.5) for p in result.probs)
    assert set(seg(SONG, threshold=0.0).labels) == {1}


@pytest.mark.parametrize("threshold", ["abc", 1.5, -0.1, True])
def test_a_threshold_outside_0_to_1_is_refused(seg, threshold):
    with pytest.raises(LyricsegError, match="threshold must be a number from 0 to 1"):
        seg(SONG, threshold=threshold)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("", "song 1: the song has no lines"),
        (" \n\t\n", "song 1: the song has no lines"),
        ([], "song 1: song 'song-1' has no lines"),
        (["a", 2], "song 1: 'lines' must be a list of strings"),
        ({"text": "a"}, "song 1: give either 'lyrics' (text) or 'lines'"),
        ({"lyrics": "a", "lines": ["a"]}, "song 1: give either 'lyrics' (text) or 'lines'"),
        ({"lyrics": ["a"]}, "song 1: 'lyrics' must be a string"),
        ({"id": None, "lyrics": "a"}, "song 1: 'id' must be a string"),
        ({"lines": ["a"], "labels": [2]}, "labels must be 0 or 1"),
        (42, "song 1: expected lyrics text, a list of lines, or a mapping"),
        (b"bytes", "got bytes"),
    ],
)
def test_bad_input_is_one_clear_error(seg, item, message):
    with pytest.raises(LyricsegError) as err:
        seg(item)
    assert message in str(err.value)


def test_the_bad_song_of_a_batch_is_named(seg):
    with pytest.raises(LyricsegError, match="^song 3: the song has no lines$"):
        seg.predict_batch(["a", "b", "\n"])
    with pytest.raises(LyricsegError, match="takes a list of songs"):
        seg.predict_batch("one song as text")


def test_line_limit_names_the_song(tiny_checkpoint):
    small = api.Segmenter.load(tiny_checkpoint, max_lines=3)
    assert len(small(["a", "b", "c"])) == 3
    with pytest.raises(LyricsegError, match="song 'long' has 4 lines; the limit is 3"):
        small.predict_batch(["x", {"id": "long", "lines": ["a", "b", "c", "d"]}])


def test_load_without_a_shipped_model_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoint, "PRETRAINED", tmp_path / "absent.ckpt")
    with pytest.raises(LyricsegError, match="no pretrained model"):
        api.Segmenter.load()
    with pytest.raises(LyricsegError, match="checkpoint not found"):
        api.Segmenter.load(tmp_path / "missing.ckpt")


def test_segmentation_round_trips_a_record():
    record = {
        "id": "s",
        "lines": ["a", "b"],
        "labels": [0, 1],
        "probs": [0.1, 0.9],
        "sections": ["verse", "chorus"],
        "section_starts": [0, 1],
        "breaks": [1],
        "given_sections": ["Verse 1", "Hook"],
        "boundary_probs": [0.9, 0.8],
    }
    result = api.Segmentation.from_record(record)
    assert result.sections == ("verse", "chorus") and result.section_starts == (0, 1)
    assert result.breaks == (1,) and result.given_sections == ("Verse 1", "Hook")
    assert result.extra == {"boundary_probs": [0.9, 0.8]}
    assert result.to_dict() == record
    assert result.to_table() == (
        "   #  label  P(chorus)  section     given            line\n"
        "   1  verse      0.100  verse       Verse 1          a\n"
        "   2  chorus     0.900  chorus      Hook             b"
    )
    assert result.to_tagged() == "[Verse 1]\na\n\n[Chorus]\nb\n"
    assert result.spans() == [Span("verse", "Verse 1", 0, 1), Span("chorus", "Chorus", 1, 2)]
    assert result.to_dict(spans=True) == {
        **record,
        "spans": [
            {"name": "verse", "header": "Verse 1", "start": 0, "end": 1},
            {"name": "chorus", "header": "Chorus", "start": 1, "end": 2},
        ],
    }
    plain = {k: record[k] for k in ("id", "lines", "labels", "probs")}
    # given_sections is always written, null when the input had no headers
    assert api.Segmentation.from_record(plain).to_dict() == {**plain, "given_sections": None}
    with pytest.raises(AttributeError):
        result.labels = (1, 1)


def test_the_same_song_gives_equal_results(seg):
    assert seg("la la\n\nla la") == seg(["la la", "", "la la"]) != seg("la la\noh")
    # no blank line between lyric lines: breaks unknown, as for a list
    assert seg(["la", "la"]).breaks is None and seg("la\nla").breaks is None
    assert seg("la\n\nla").breaks == (1,) and seg(["la", "", "la"]).breaks == (1,)


def test_labels_alone_make_numbered_verses_and_choruses():
    """Without section heads the spans are runs of labels, verses numbered (as before the move:
    the texts below are what ``predict.py`` wrote)."""
    plain = Segmentation.from_record(
        {"id": "p", "lines": ["x", "y", "z", "w"], "labels": [0, 1, 1, 0],
         "probs": [0.2, 0.7, 0.8, 0.3]}
    )  # fmt: skip
    assert [(s.header, s.start, s.end) for s in plain.spans()] == [
        ("Verse 1", 0, 1), ("Chorus", 1, 3), ("Verse 2", 3, 4),
    ]  # fmt: skip
    assert plain.to_table() == (
        "   #  label  P(chorus)  line\n   1  verse      0.200  x\n   2  chorus     0.700  y\n"
        "   3  chorus     0.800  z\n   4  verse      0.300  w"
    )
    assert plain.to_tagged() == "[Verse 1]\nx\n\n[Chorus]\ny\nz\n\n[Verse 2]\nw\n"
    headed = Segmentation("s", ("a", "b"), (0, 1), (0.1, 0.9), ("verse", "chorus"), (0, 1))
    assert format_songs([headed, plain], Segmentation.to_tagged) == (
        "==> s <==\n[Verse 1]\na\n\n[Chorus]\nb\n\n"
        "==> p <==\n[Verse 1]\nx\n\n[Chorus]\ny\nz\n\n[Verse 2]\nw\n"
    )
    assert format_songs([plain], Segmentation.to_tagged) == plain.to_tagged()
    assert api.Segmentation is lyricseg.Segmentation is Segmentation  # one type, re-exported
