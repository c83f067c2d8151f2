"""Verse/chorus conventions: per-corpus heads, routing, decoding, checkpoints, the option."""

from __future__ import annotations

import json

import pytest
import torch
from support import RESOURCES, TINY, TINY_SECTIONED, run_script, train_tiny

from lyricseg.data.conventions import (
    DEFAULT_CONVENTION,
    convention_index,
    corpus_conventions,
    label_given_class,
)
from lyricseg.models.components import TaggerNet
from lyricseg.utils.errors import LyricsegError

SECTIONS = RESOURCES / "tiny_sections"
#: The 0.2 model's output on the test resources (then the shipped model), recorded before
#: conventions existed.
SHIPPED = RESOURCES / "shipped_predictions.json"


@pytest.fixture(scope="module")
def two_conventions(tmp_path_factory):
    """A tiny model trained on the tiny corpus plus a headed one: two conventions."""
    _, objects = train_tiny(
        tmp_path_factory.mktemp("conventions_model"),
        *TINY_SECTIONED,
        "trainer.max_epochs=1",
    )
    return objects


# --- which corpus follows which convention -----------------------------------------------------


def test_each_corpus_its_own_convention_by_default():
    assert corpus_conventions(["main", "extra"], [True, True]) == (["lyrics", "extra"], [0, 1])
    assert corpus_conventions(["main"], [True]) == ([DEFAULT_CONVENTION], [0])


def test_overrides_merge_and_rename_conventions():
    names = ["main", "genius", "azlyrics"]
    merged = corpus_conventions(names, [True] * 3, {"genius": "lyrics"})
    assert merged == (["lyrics", "azlyrics"], [0, 0, 1])
    renamed = corpus_conventions(names, [True] * 3, {"main": "mine", "azlyrics": "genius"})
    assert renamed == (["mine", "genius"], [0, 1, 1])


def test_a_corpus_without_labels_trains_no_head_of_its_own():
    """Stanza corpora (no verse/chorus labels) join the main convention unless told."""
    assert corpus_conventions(["main", "stanzas"], [True, False]) == (["lyrics"], [0, 0])
    told = corpus_conventions(["main", "stanzas"], [True, False], {"stanzas": "x"})
    assert told == (["lyrics", "x"], [0, 1])


def test_an_override_for_no_corpus_names_the_corpora():
    with pytest.raises(LyricsegError, match="names no corpus 'extar'; the corpora are main, extra"):
        corpus_conventions(["main", "extra"], [True, True], {"extar": "x"})


def test_unknown_convention_is_one_line_naming_the_valid_ones():
    assert convention_index(["lyrics", "extra"], None) == 0
    assert convention_index(["lyrics", "extra"], "extra") == 1
    with pytest.raises(LyricsegError) as err:
        convention_index(["lyrics", "extra"], "genius")
    assert str(err.value) == (
        "convention='genius' is not one of this model's verse/chorus conventions: lyrics, extra"
    )


def test_label_given_class_counts_each_convention_apart():
    labels = [torch.tensor([0, 1, 1, -1]), torch.tensor([1, 1]), torch.tensor([-1, -1])]
    classes = [torch.tensor([0, 1, 1, 1]), torch.tensor([0, -1]), torch.tensor([0, 1])]
    table = label_given_class(labels, classes, [1, 1, 0], n_conventions=2, n_classes=2)
    assert table[0] == [[0.5, 0.5], [0.5, 0.5]]  # only unknown labels: flat
    # convention 1: class 0 seen with each label once; class 1 with label 1 twice (+1 prior)
    assert [p for row in table[1] for p in row] == pytest.approx([1 / 2, 1 / 2, 1 / 4, 3 / 4])


def test_batches_carry_corpus_and_convention(make_cfg):
    from hydra.utils import instantiate

    cfg = make_cfg(f"data.extra_dirs=[{SECTIONS}]")
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    assert datamodule.corpus_names == ["main", "tiny_sections"]
    assert datamodule.conventions == ["lyrics", "tiny_sections"]
    train = datamodule.splits["train"]
    n_main = len((TINY / "train.jsonl").read_text().splitlines())
    assert train.corpus == [0] * n_main + [1] * (len(train) - n_main)
    assert train.convention == train.corpus
    seen = torch.cat([b["convention"] for b in datamodule.train_dataloader()])
    assert seen.dtype == torch.long and set(seen.tolist()) == {0, 1}
    val_main, val_extra = datamodule.val_dataloader()
    assert next(iter(val_main))["convention"].eq(0).all()
    assert next(iter(val_extra))["corpus"].eq(1).all()

    merged = instantiate(
        make_cfg(f"data.extra_dirs=[{SECTIONS}]", "data.conventions={tiny_sections: lyrics}").data
    )
    merged.setup("fit")
    assert merged.conventions == ["lyrics"] and set(merged.splits["train"].convention) == {0}


# --- one network, one head per convention ------------------------------------------------------


def _net(**kwargs) -> TaggerNet:
    torch.manual_seed(0)
    return TaggerNet(5, hidden_size=8, num_layers=1, projection_size=8, dropout=0.0, **kwargs)


def test_a_songs_loss_only_reaches_its_own_conventions_head():
    net = _net(conventions=["lyrics", "extra", "third"])
    features, mask = torch.randn(2, 6, 5), torch.ones(2, 6, dtype=torch.bool)
    heads = net.forward_heads(features, mask, convention=torch.tensor([1, 1]))
    torch.nn.functional.cross_entropy(
        heads["label"].flatten(0, 1), torch.ones(12).long()
    ).backward()
    grad = net.classifier[1].weight.grad.view(3, 2, -1)  # [K, C, H]
    assert grad[1].abs().sum() > 0
    assert grad[0].abs().sum() == 0 and grad[2].abs().sum() == 0
    assert net.lstm.weight_ih_l0.grad.abs().sum() > 0  # the evidence is shared


def test_the_lightning_module_routes_each_song_to_its_head(two_conventions):
    """Through the training loss: a batch of main-corpus songs leaves the other head alone."""
    model, datamodule = two_conventions["model"], two_conventions["datamodule"]
    model.train()
    model.log = lambda *args, **kwargs: None  # outside a Trainer loop
    model.break_dropout = 0.0
    batch = next(iter(datamodule._loader("val", shuffle=False)))
    assert batch["convention"].eq(0).all()
    model.zero_grad()
    total, _ = model._loss(batch, "train")
    total.backward()
    grad = model.net.classifier[1].weight.grad.view(2, 2, -1)
    assert grad[0].abs().sum() > 0 and grad[1].abs().sum() == 0


def test_one_convention_is_the_single_head_of_older_models():
    net = _net()
    assert net.conventions == (DEFAULT_CONVENTION,)
    assert net.classifier[1].out_features == 2
    features, mask = torch.randn(1, 4, 5), torch.ones(1, 4, dtype=torch.bool)
    assert torch.equal(net(features, mask), net.classifier(net.encode(features, mask)))
    with pytest.raises(ValueError, match="outside"):
        net.forward_heads(features, mask, convention=1)


def test_each_convention_reads_its_own_logits():
    net = _net(conventions=["a", "b"]).eval()
    features, mask = torch.randn(2, 4, 5), torch.ones(2, 4, dtype=torch.bool)
    both = net.classifier(net.encode(features, mask)).view(2, 4, 2, 2)
    mixed = net.forward_heads(features, mask, convention=torch.tensor([1, 0]))
    assert torch.equal(mixed["label"][0], both[0, :, 1]) and torch.equal(
        mixed["label"][1], both[1, :, 0]
    )
    assert mixed["convention"].tolist() == [1, 0]
    assert torch.equal(net(features, mask, convention=1), both[:, :, 1])


# --- the checkpoint keeps the list; older ones upgrade ----------------------------------------


def test_the_checkpoint_stores_the_conventions(two_conventions):
    from lyricseg.checkpoint import FORMAT_VERSION, load_model

    data = torch.load(two_conventions["best_path"], weights_only=True)["lyricseg"]
    assert data["format_version"] == FORMAT_VERSION >= 5  # 5: conventions stored
    assert data["net"]["conventions"] == ["lyrics", "tiny_sections"]
    lyrics, headed = data["decoder"]["label_given_class"]
    assert all(row == [0.5, 0.5] for row in lyrics)  # the tiny corpus has no sections
    classes = data["net"]["section_classes"]
    chorus, verse = headed[classes.index("chorus")], headed[classes.index("verse")]
    assert chorus[1] > 0.9 and verse[0] > 0.9  # as the headed corpus labelled them
    model = load_model(two_conventions["best_path"])
    assert model.net.conventions == ("lyrics", "tiny_sections")


def _as_format_3(src, dst):
    """The model as format 3 stored it: one label head, chorus class ids in the decoder."""
    from lyricseg.sections import default_section_map

    data = torch.load(src, weights_only=True)
    section = data["lyricseg"]
    section["format_version"] = 3
    section["net"].pop("conventions")
    section["decoder"].pop("label_given_class")
    section["decoder"]["chorus_classes"] = default_section_map().chorus_ids()
    for key in ("net.classifier.1.weight", "net.classifier.1.bias"):
        data["state_dict"][key] = data["state_dict"][key][:2].clone()
    torch.save(data, dst)
    return dst


def test_a_format_3_checkpoint_upgrades_to_one_convention(two_conventions, tmp_path):
    """Labels follow the section class exactly, as format 3 decoded them."""
    from lyricseg.data import read_jsonl
    from lyricseg.inference import Predictor
    from lyricseg.sections import default_section_map

    old = _as_format_3(two_conventions["best_path"], tmp_path / "v3.ckpt")
    predictor = Predictor.from_checkpoint(old)
    assert predictor.conventions == ("lyrics",)
    chorus = default_section_map().chorus_classes
    for record in predictor.predict(read_jsonl(SECTIONS / "val.jsonl")):
        assert list(record.labels) == [int(c in chorus) for c in record.sections]


def test_the_lyricseg_0_2_model_gives_the_same_output_as_before():
    """Recorded with the code before conventions (format 2 upgraded through every format)."""
    from support import FORMAT2_MODEL

    from lyricseg.data import read_jsonl, read_songs
    from lyricseg.inference import Predictor

    songs = [
        *read_jsonl(TINY / "val.jsonl"),
        *read_jsonl(TINY / "train.jsonl"),
        *read_jsonl(SECTIONS / "val.jsonl"),
        *read_jsonl(SECTIONS / "train.jsonl"),
        *read_songs(RESOURCES / "song.txt"),
    ]
    predictor = Predictor.from_checkpoint(FORMAT2_MODEL)
    assert predictor.conventions == (DEFAULT_CONVENTION,)
    expected = json.loads(SHIPPED.read_text())
    got = predictor.predict(songs)
    assert [r.id for r in got] == [e["id"] for e in expected]
    for record, want in zip(got, expected, strict=True):
        assert list(record.labels) == want["labels"], record.id
        assert list(record.sections) == want["sections"], record.id
        assert list(record.section_starts) == want["section_starts"], record.id
        assert list(record.probs) == pytest.approx(want["probs"], abs=2e-6), record.id


# --- prediction names a convention -------------------------------------------------------------


def test_predict_with_a_named_convention(two_conventions, tmp_path):
    from lyricseg import Segmenter
    from lyricseg.inference import Predictor

    ckpt = two_conventions["best_path"]
    lines = [*json.loads((SECTIONS / "val.jsonl").read_text().splitlines()[0])["lines"]]
    default = Segmenter.load(ckpt)(lines)
    assert default == Segmenter.load(ckpt, convention="lyrics")(lines)
    headed = Segmenter.load(ckpt, convention="tiny_sections")(lines)
    assert headed.probs != default.probs  # the other head
    again = Segmenter(Predictor.from_checkpoint(ckpt), convention="tiny_sections")(lines)
    assert again == headed

    out = tmp_path / "out.jsonl"
    args = [f"ckpt={ckpt}", f"input={SECTIONS}/val.jsonl", f"hydra.run.dir={tmp_path}/run"]
    result = run_script("predict.py", *args, f"output={out}", "convention=tiny_sections")
    assert result.returncode == 0, result.stderr
    first = json.loads(out.read_text().splitlines()[0])
    assert first["probs"] == pytest.approx(list(headed.probs), abs=1e-5)


def test_an_unknown_convention_is_one_error_line(two_conventions, tmp_path):
    from lyricseg import Segmenter

    ckpt = two_conventions["best_path"]
    message = (
        "convention='genius' is not one of this model's verse/chorus conventions: "
        "lyrics, tiny_sections"
    )
    with pytest.raises(LyricsegError, match=message):
        Segmenter.load(ckpt, convention="genius")
    result = run_script(
        "predict.py",
        f"ckpt={ckpt}",
        f"input={RESOURCES}/song.txt",
        "convention=genius",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: {message}"
