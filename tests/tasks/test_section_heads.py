"""Section heads end to end: training with sections and breaks, joint decoding, tagged output."""

import json

import pytest
import torch
from support import RESOURCES, TINY, run_script, train_tiny

from lyricseg.data.batching import SongDataset, break_flags
from lyricseg.data.songs import Song
from lyricseg.models.components import TaggerNet
from lyricseg.sections import SECTION_CLASSES, default_section_map
from lyricseg.train import train

SECTIONS = RESOURCES / "tiny_sections"


@pytest.fixture(scope="module")
def sections_checkpoint(tmp_path_factory):
    metrics, objects = train_tiny(
        tmp_path_factory.mktemp("sections_model"),
        f"data.extra_dirs=[{SECTIONS}]",
        "model.net.sections=true",
        "model.net.breaks=true",
        "decoder=joint",
    )
    return objects["best_path"], metrics


def test_break_flags_and_breaks_from_sections():
    assert break_flags([2, 5], 6).tolist() == [[0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [1, 1]]
    assert break_flags(None, 2).tolist() == [[0, 0], [0, 0]]
    song = Song("s", ("a", "b", "c", "d", "e"), (0, 0, 1, 1, 0), sections=tuple("AABBC"))
    feats = [(torch.zeros(5, 3).numpy(), None)]
    derived = SongDataset([song], feats, default_section_map(), breaks_from_sections=True)
    assert derived[0]["breaks"][:, 0].nonzero().flatten().tolist() == [2, 4]
    plain = SongDataset([song], feats, default_section_map())
    assert plain[0]["breaks"].abs().sum() == 0  # unknown: nothing leaks from the sections


def test_a_net_reads_breaks_only_when_built_to():
    torch.manual_seed(0)
    features, mask = torch.randn(1, 6, 5), torch.ones(1, 6, dtype=torch.bool)
    breaks = break_flags([3], 6)[None]
    reader = TaggerNet(5, hidden_size=8, num_layers=1, projection_size=8, breaks=True).eval()
    assert not torch.allclose(reader(features, mask, None, breaks), reader(features, mask))
    blind = TaggerNet(5, hidden_size=8, num_layers=1, projection_size=8).eval()
    assert torch.equal(blind(features, mask, None, breaks), blind(features, mask))


def test_training_with_sections_logs_every_head(sections_checkpoint):
    _, metrics = sections_checkpoint
    for key in (
        "val/loss/section",
        "val/loss/start",
        "val_tiny_sections/section_border_f1",
        "val_tiny_sections/section_macro_f1",
        "val_tiny_sections/macro_f1",
        "val/boundary_f1",
    ):
        assert key in metrics, key
    assert "val/section_border_f1" not in metrics  # the main corpus has no sections


def test_jsonl_records_are_consistent_and_scored(sections_checkpoint, tmp_path):
    ckpt, _ = sections_checkpoint
    out = tmp_path / "out.jsonl"
    result = run_script(
        "predict.py",
        f"ckpt={ckpt}",
        f"input={SECTIONS}/val.jsonl",
        f"output={out}",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert result.returncode == 0, result.stderr
    chorus = default_section_map().chorus_classes
    for record in map(json.loads, out.read_text().splitlines()):
        assert len(record["sections"]) == len(record["lines"])
        assert set(record["sections"]) <= set(SECTION_CLASSES)
        # one decoder for all heads: the label is 1 exactly on chorus-class lines ...
        assert record["labels"] == [int(c in chorus) for c in record["sections"]]
        # ... and every class change starts a section
        starts = set(record["section_starts"])
        assert 0 in starts
        changes = {
            i
            for i in range(1, len(record["lines"]))
            if record["sections"][i] != record["sections"][i - 1]
        }
        assert changes <= starts
    metrics = json.loads((tmp_path / "out.jsonl.metrics.json").read_text())
    assert {"macro_f1", "section_border_f1", "section_macro_f1", "section_f1_chorus"} <= set(
        metrics
    )


def test_tagged_output_of_a_plain_text_song(sections_checkpoint, tmp_path):
    ckpt, _ = sections_checkpoint
    result = run_script(
        "predict.py",
        f"ckpt={ckpt}",
        f"input={RESOURCES}/song.txt",
        "format=tagged",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.strip().split("\n\n")
    headers = [block.splitlines()[0] for block in blocks]
    assert all(h.startswith("[") and h.endswith("]") for h in headers)
    body = [line for block in blocks for line in block.splitlines()[1:]]
    source = [x.strip() for x in (RESOURCES / "song.txt").read_text().splitlines() if x.strip()]
    assert body == source  # every lyric line once, in order, under a header
    verses = [h for h in headers if h.startswith("[Verse")]
    assert verses == [f"[Verse {i}]" for i in range(1, len(verses) + 1)]


def test_same_song_with_and_without_blank_lines(sections_checkpoint, tmp_path):
    """Breaks reach the model as input: the blank lines change its reading of the song."""
    from lyricseg.predict import Predictor

    ckpt, _ = sections_checkpoint
    predictor = Predictor.from_checkpoint(ckpt)
    record = json.loads((SECTIONS / "val.jsonl").read_text().splitlines()[0])
    lines, sections = record["lines"], record["sections"]
    with_breaks = []
    for i, line in enumerate(lines):
        if i and sections[i] != sections[i - 1]:
            with_breaks.append("")
        with_breaks.append(line)
    text = tmp_path / "song.txt"
    text.write_text("\n".join(with_breaks) + "\n")
    from lyricseg.data.songs import read_songs

    (broken,) = read_songs(text)
    plain = Song("plain", tuple(lines))
    a, b = predictor.predict([broken, plain])
    assert a["lines"] == b["lines"] == lines
    assert a["breaks"] == [i for i in range(1, len(lines)) if sections[i] != sections[i - 1]]
    assert "breaks" not in b
    assert a["probs"] != b["probs"]


def test_old_tiny_corpus_without_sections_still_trains(make_cfg):
    metrics, objects = train(make_cfg("model.net.sections=true", "trainer.max_epochs=1"))
    assert objects["model"].net.has_sections
    assert "val/section_border_f1" not in metrics
    assert (TINY / "train.jsonl").exists()
