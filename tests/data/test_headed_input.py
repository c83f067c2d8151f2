"""Headed lyrics as plain-text input: header lines in every style are parsed and used."""

import pytest
from support import RESOURCES

from lyricseg.data.songs import read_songs
from lyricseg.sections import default_section_map

HEADED = RESOURCES / "headed_input"

#: Per file of the corpus: (given section, lyric line) per kept line, and the stanza breaks.
EXPECTED = {
    "brackets.txt": (
        [
            ("Intro", "mm, mm"),
            ("Verse 1", "the ferry leaves at seven"),
            ("Verse 1", "the gulls are counting coats"),
            ("Chorus x2", "carry me over, carry me home"),
            ("Chorus x2", "(oh oh oh)"),
            ("Chorus x2", "carry me over the foam"),
            ("Verse 2", "the ticket in my pocket"),
            ("Verse 2", "is softer than the rain"),
            ("Chorus (x2)", "carry me over, carry me home"),
            ("Outro", "(yeah)"),
        ],
        (1, 3, 6, 8, 9),
    ),
    "marked.txt": (
        [
            ("Verse 1", "chalk lines on the schoolyard wall"),
            ("Verse 1", "somebody's name and a heart"),
            ("Chorus", "skip, skip, don't look back"),
            ("Chorus", "Listen:"),
            ("Chorus", "the bell is ringing"),
            ("Verse 2", "paper planes in the rafters"),
            ("CHORUS", "skip, skip, don't look back"),
            ("Bridge (x2)", "(hey, hey)"),
            ("Chorus x2", "skip, skip, don't look back"),
        ],
        (2, 5, 6, 7, 8),
    ),
    "other_languages.txt": (
        [
            ("Estribillo", "baila la luna en el mar"),
            ("Coro", "baila, baila"),
            ("Refrão", "a maré vai voltar"),
            ("Refrain", "la lune danse encore"),
            ("Couplet 1", "les barques dorment au port"),
            ("Strophe 2", "der Hafen schläft im Nebel"),
            ("Ritornello", "la luna balla ancora"),
            ("Pont", "un pont de lumière"),
            ("Puente", "un puente de sal"),
            ("Ponte", "uma ponte de areia"),
            ("Brücke", "eine Brücke aus Licht"),
        ],
        tuple(range(1, 11)),
    ),
}

CLASSES = {
    "other_languages.txt": [
        "chorus", "chorus", "chorus", "chorus", "verse", "verse", "chorus", "bridge", "bridge",
        "bridge", "bridge",
    ],
    "marked.txt": [
        "verse", "verse", "chorus", "chorus", "chorus", "verse", "chorus", "bridge", "chorus",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_headed_text_is_parsed_in_every_style(name):
    (song,) = read_songs(HEADED / name)
    lines, breaks = EXPECTED[name]
    assert list(zip(song.sections, song.lines, strict=True)) == lines
    assert song.breaks == breaks
    smap = default_section_map()
    if name in CLASSES:
        assert [smap.classify(h) for h in song.sections] == CLASSES[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_keep_reads_header_lines_as_lyrics(name):
    text = (HEADED / name).read_text(encoding="utf-8")
    (song,) = read_songs(HEADED / name, headers="keep")
    assert song.lines == tuple(line.strip() for line in text.splitlines() if line.strip())
    assert song.sections is None


def test_lyrics_in_parentheses_or_with_a_colon_stay_lyrics():
    (song,) = read_songs(HEADED / "no_headers.txt")
    assert song.lines == (
        "(oh oh oh)",
        "the lantern swings above the door",
        "(yeah)",
        "the lantern swings above the door",
        "The chorus goes like this:",
        "Chorus",
    )
    assert song.sections is None and song.breaks is None


def test_bracketed_backing_vocals_stay_lyrics_in_prediction_input(tmp_path):
    from lyricseg.data.ingest import convert_paths

    path = tmp_path / "s.txt"
    path.write_text("[Verse 1: Someone]\nwe were young\n[we were young]\n[Hook]\nla la\n")
    (song,) = read_songs(path)
    assert song.lines == ("we were young", "[we were young]", "la la")
    assert song.sections == ("Verse 1", "Verse 1", "Hook")
    # the converter follows Genius: every bracketed line is a header (here an unmapped one)
    (record,), report = convert_paths([path], default_section_map())
    assert record["lines"] == ["we were young", "la la"]
    assert "we were young" in report.unmapped_headers
