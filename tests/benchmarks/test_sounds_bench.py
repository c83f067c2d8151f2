"""The sound-evidence measurement (``python -m benchmarks.sounds``) on invented songs."""

import pytest

from benchmarks import sounds
from lyricseg.data import Song

# Two invented German stanzas; in each, lines 1-2 and 3-4 end in a rhyme.
LINES = (
    "ich trage dich in meinem herz",
    "und nicht mehr den schmerz",
    "wir sind noch wach in der nacht",
    "du hast auf mich die macht",
    "ich bin mit dir nicht allein",
    "wir wollen immer bei dir sein",
    "auf dem weg in die welt",
    "und mir ist nicht das geld",
)


def test_rhymes_within_and_across_stanzas():
    song = Song(id="s", lines=LINES, breaks=(4,))
    result = sounds.measure([song])
    spelled = result["spelling"]["de"]
    assert spelled["songs"] == 1 and spelled["lines"] == 8 and spelled["keyed"] == 1.0
    # pairs 1 or 2 lines apart: 10 inside a stanza (4 of them rhyme), 3 across its start
    assert (spelled["pairs_within"], spelled["pairs_across"]) == (10, 3)
    assert spelled["rhyme_within"] == pytest.approx(0.4) and spelled["rhyme_across"] == 0
    assert spelled["info_mbit"] > 0
    assert result["none"]["de"]["rhyme_within"] < spelled["rhyme_within"]
    assert result["none"]["all"]["cmu"] == result["none"]["de"]["cmu"] > 0
    assert "| de | spelling | 1 | 8 |" in sounds.table(result)


def test_missing_corpus_is_one_error_line(tmp_path, capsys):
    assert sounds.main(["--corpus", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
