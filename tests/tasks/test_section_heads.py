"""Section heads end to end: training with sections and breaks, joint decoding, tagged output."""

import json

import pytest
import torch
from support import RESOURCES, TINY, TINY_SECTIONED, run_script, train_tiny

from lyricseg.data.batching import SongDataset, break_flags
from lyricseg.data.songs import Song
from lyricseg.models.components import TaggerNet
from lyricseg.sections import default_section_map
from lyricseg.training.task import train

SECTIONS = RESOURCES / "tiny_sections"


@pytest.fixture(scope="module")
def sections_checkpoint(tmp_path_factory):
    metrics, objects = train_tiny(
        tmp_path_factory.mktemp("sections_model"),
        *TINY_SECTIONED,
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
    for record in map(json.loads, out.read_text().splitlines()):
        assert len(record["sections"]) == len(record["lines"])
        assert set(record["sections"]) <= set(default_section_map().classes)
        # one decoder for all heads: every change of class or label starts a section
        starts = set(record["section_starts"])
        assert 0 in starts
        pairs = list(zip(record["sections"], record["labels"], strict=True))
        changes = {i for i in range(1, len(pairs)) if pairs[i] != pairs[i - 1]}
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
    from lyricseg.inference import Predictor

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
    assert list(a.lines) == list(b.lines) == lines
    assert list(a.breaks) == [i for i in range(1, len(lines)) if sections[i] != sections[i - 1]]
    assert b.breaks is None and "breaks" not in b.to_dict()
    assert a.probs != b.probs


def test_old_tiny_corpus_without_sections_still_trains(make_cfg):
    metrics, objects = train(make_cfg("model.net.sections=true", "trainer.max_epochs=1"))
    assert objects["model"].net.has_sections
    assert "val/section_border_f1" not in metrics
    assert (TINY / "train.jsonl").exists()


# --- the model's own section vocabulary ------------------------------------------------------


def _grow_map(tmp_path, monkeypatch) -> tuple[str, ...]:
    """Today's map gains a class, first in the list: every class id after it shifts by one."""
    import lyricseg.sections as sections

    packaged = sections.default_map_path().read_text(encoding="utf-8")
    old = "classes: [intro, verse,"
    assert old in packaged
    copy = tmp_path / "sections.yaml"
    copy.write_text(packaged.replace(old, "classes: [skit, intro, verse,"), encoding="utf-8")
    monkeypatch.setattr(sections, "default_map_path", lambda: copy)
    sections._packaged_map.cache_clear()
    return default_section_map().classes


@pytest.fixture(autouse=True)
def _packaged_map_reloaded():
    """The packaged map is cached: read it afresh after a test that grew it."""
    import lyricseg.sections as sections

    yield
    sections._packaged_map.cache_clear()


def _as_format_2(src, dst):
    """The model as lyricseg 0.2 wrote it: ``sections: true``, no class list, one label head.

    The first convention's head (the first ``C`` rows of the classifier) is the one head.
    """
    data = torch.load(src, weights_only=True)
    data["lyricseg"]["format_version"] = 2
    data["lyricseg"]["net"].pop("section_classes")
    data["lyricseg"]["net"].pop("conventions")
    data["lyricseg"]["decoder"].pop("label_given_class")
    for key in ("net.classifier.1.weight", "net.classifier.1.bias"):
        data["state_dict"][key] = data["state_dict"][key][:2].clone()
    torch.save(data, dst)
    return dst


def _hard_table():
    """The label-given-class table of an upgraded model: 1 exactly on the chorus classes."""
    chorus = default_section_map().chorus_ids()
    classes = default_section_map().classes
    return [[[0.0, 1.0] if i in chorus else [1.0, 0.0] for i in range(len(classes))]]


def test_a_net_is_built_with_its_section_classes():
    net = TaggerNet(5, hidden_size=8, num_layers=1, projection_size=8, sections=True,
                    section_classes=["verse", "chorus", "bridge"])  # fmt: skip
    heads = net.eval().forward_heads(torch.randn(2, 4, 5), torch.ones(2, 4, dtype=torch.bool))
    assert heads["section"].shape == (2, 4, 3)
    assert net.section_classes == ("verse", "chorus", "bridge")
    assert TaggerNet(5, section_classes=["verse"]).section_classes is None  # no heads asked
    with pytest.raises(ValueError, match="needs section_classes"):
        TaggerNet(5, sections=True)


def test_training_stores_the_maps_classes_in_the_checkpoint(sections_checkpoint):
    from lyricseg import checkpoint

    ckpt, _ = sections_checkpoint
    data = torch.load(ckpt, weights_only=True)["lyricseg"]
    assert data["format_version"] == checkpoint.FORMAT_VERSION >= 3  # 3: classes stored
    section_map = default_section_map()
    assert data["net"]["section_classes"] == list(section_map.classes)
    assert data["net"]["conventions"] == ["lyrics", "tiny_sections"]
    table = data["decoder"]["label_given_class"]
    assert len(table) == 2 and all(len(rows) == len(section_map.classes) for rows in table)


def test_a_class_added_to_the_map_leaves_an_existing_model_as_it_was(
    sections_checkpoint, tmp_path, monkeypatch
):
    """The model loads and names its sections from its stored list, not from today's map."""
    from lyricseg.data import read_jsonl
    from lyricseg.inference import Predictor

    ckpt, _ = sections_checkpoint
    stored = tuple(torch.load(ckpt, weights_only=True)["lyricseg"]["net"]["section_classes"])
    songs = read_jsonl(SECTIONS / "val.jsonl")[:4]
    before = Predictor.from_checkpoint(ckpt).predict(songs)
    assert any(set(r.sections) - {"intro"} for r in before)  # names beyond id 0 seen

    assert _grow_map(tmp_path, monkeypatch) == ("skit", *stored)
    predictor = Predictor.from_checkpoint(ckpt)
    assert predictor.section_classes == stored
    after = predictor.predict(songs)
    assert after == before  # same classes, same names, same chorus labels
    for record in after:
        assert set(record.sections) <= set(stored)
    from lyricseg import Segmenter  # the API (and the service) name them through Predictor

    segmented = Segmenter.load(ckpt)([*songs[0].lines])
    assert segmented.sections == before[0].sections
    # a model built for today's map gets the new list: one more section logit
    net = TaggerNet(5, sections=True, section_classes=default_section_map().classes)
    assert net.section_head[1].out_features == len(stored) + 1


def test_a_format_2_checkpoint_upgrades_with_todays_list(sections_checkpoint, tmp_path):
    from lyricseg.checkpoint import load_model, read_record

    ckpt, _ = sections_checkpoint
    old = _as_format_2(ckpt, tmp_path / "v2.ckpt")
    record, _ = read_record(old)
    assert record.net["section_classes"] == list(default_section_map().classes)
    assert record.net["conventions"] == ["lyrics"]
    assert record.decoder["label_given_class"] == _hard_table()
    model = load_model(old)
    assert model.net.section_classes == default_section_map().classes
    assert model.net.conventions == ("lyrics",)


def test_a_format_2_checkpoint_meets_a_grown_map_with_one_clear_error(
    sections_checkpoint, tmp_path, monkeypatch
):
    """The upgrade gives an old model today's list, explicitly: a grown map does not fit."""
    from lyricseg.checkpoint import CheckpointError, load_model

    ckpt, _ = sections_checkpoint
    old = _as_format_2(ckpt, tmp_path / "v2.ckpt")
    _grow_map(tmp_path, monkeypatch)
    with pytest.raises(CheckpointError, match="weights do not match.*section_head"):
        load_model(old)


def test_the_lyricseg_0_2_model_loads_through_the_upgrade():
    from support import FORMAT2_MODEL

    from lyricseg.checkpoint import load_model

    assert torch.load(FORMAT2_MODEL, weights_only=True)["lyricseg"]["format_version"] == 2
    model = load_model(FORMAT2_MODEL)
    assert model.net.section_classes == default_section_map().classes
    assert model.record.net["section_classes"] == list(default_section_map().classes)
    assert model.record.decoder["label_given_class"] == _hard_table()
    assert model.net.conventions == ("lyrics",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["net"].update(section_classes="verse"), "not a non-empty list"),
        (lambda s: s["net"].update(section_classes=[]), "not a non-empty list"),
        (lambda s: s["net"]["section_classes"].__setitem__(0, ""), "is not a class name"),
        (lambda s: s["net"]["section_classes"].__setitem__(0, 3), "is not a class name"),
        (lambda s: s["net"]["section_classes"].__setitem__(0, "x" * 65), "is not a class name"),
        (lambda s: s["net"]["section_classes"].__setitem__(0, "verse"), "names a class twice"),
        (lambda s: s["net"].update(section_classes=[f"c{i}" for i in range(300)]), "at most 256"),
        (lambda s: s["net"]["section_classes"].__setitem__(0, "${oc.env:HOME}"), "interpolation"),
        (lambda s: s["decoder"]["label_given_class"].pop(), "decoder.label_given_class"),
        (lambda s: s["decoder"]["label_given_class"][1].pop(), "decoder.label_given_class"),
        (
            lambda s: s["decoder"]["label_given_class"][0].__setitem__(0, [0.5, 1.5]),
            "decoder.label_given_class",
        ),
        (lambda s: s["net"].update(conventions=[]), "net.conventions: .* not a non-empty"),
        (lambda s: s["net"].update(conventions=["a", "a"]), "names a convention twice"),
        (lambda s: s["net"].pop("conventions"), "net.conventions: None"),
        # the decoder's table no longer fits (and nor would the weights)
        (
            lambda s: s["net"]["section_classes"].pop(),
            r"label_given_class: it must be a \[2\]\[7\]",
        ),
        (
            lambda s: (s["net"]["section_classes"].pop(), s["decoder"].pop("label_given_class")),
            "weights do not match.*section_head",
        ),
        (lambda s: s["net"].pop("section_classes"), "weights do not match|not a non-empty"),
    ],
)
def test_the_record_check_refuses_a_bad_class_list(sections_checkpoint, tmp_path, change, message):
    from lyricseg.checkpoint import CheckpointError, read_record

    ckpt, _ = sections_checkpoint
    data = torch.load(ckpt, weights_only=True)
    change(data["lyricseg"])
    bad = tmp_path / "bad.ckpt"
    torch.save(data, bad)
    with pytest.raises(CheckpointError, match=message):
        read_record(bad)
