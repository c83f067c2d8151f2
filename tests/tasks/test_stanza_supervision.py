"""Stanza corpora (blank lines, no labels) supervise the section-start head; break dropout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from support import REPO, tmp_paths, train_tiny

from lyricseg.data.batching import SongDataset, break_flags, collate_songs
from lyricseg.data.songs import Song
from lyricseg.data.stanzas import held_out_artist
from lyricseg.losses import CrossEntropyLoss
from lyricseg.models.components import TaggerNet
from lyricseg.sections import default_section_map
from lyricseg.training.module import LyricsTagger


def _stanza_corpus(folder: Path, songs_per_artist: int = 2) -> tuple[set[str], set[str]]:
    """Invented stanza corpus (``train.jsonl`` + ``train.meta.jsonl``): held and kept ids."""
    names = [f"Made-up Singer {k}" for k in range(200)]
    held = [a for a in names if held_out_artist(a)][:2]
    kept = [a for a in names if not held_out_artist(a)][:3]
    folder.mkdir(parents=True)
    records, meta, ids = [], [], {"held": set(), "kept": set()}
    for a, artist in enumerate([*held, *kept]):
        for k in range(songs_per_artist):
            song_id = f"st-{a}-{k}"
            lines: list[str] = []
            for j in range(2 + k):
                lines += [""] if j else []
                lines += [f"{song_id} stanza {j} walking line {i}" for i in range(3 + a % 2)]
            records.append({"id": song_id, "lines": lines})
            meta.append({"id": song_id, "artist": artist})
            ids["held" if artist in held else "kept"].add(song_id)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "train.meta.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta))
    return ids["held"], ids["kept"]


def _feats(n: int, dim: int = 5):
    return (torch.randn(n, dim).numpy(), None)


STANZA_SONG = Song("st", tuple("abcdefg"), breaks=(3, 5))
LABELLED = Song("lab", tuple("abcdef"), labels=(0, 0, 1, 1, 0, 0), breaks=(2, 4))


def test_stanza_songs_learn_starts_from_their_blank_lines_which_are_hidden():
    data = SongDataset([STANZA_SONG, LABELLED], [_feats(7), _feats(6)], starts_from_breaks=True)
    item = data[0]
    assert item["starts"].tolist() == [1, 0, 0, 1, 0, 1, 0]  # line 0 and every break
    assert item["classes"].tolist() == [-1] * 7 and item["labels"].tolist() == [-1] * 7
    assert item["breaks"].abs().sum() == 0  # the answer is not in the input: "unknown"
    # a labelled song keeps its breaks as input and learns no starts from them
    assert data[1]["breaks"][:, 0].nonzero().flatten().tolist() == [2, 4]
    assert data[1]["starts"].tolist() == [-1] * 6
    # at prediction (the default) the same song's breaks are input, never targets
    plain = SongDataset([STANZA_SONG], [_feats(7)])[0]
    assert plain["starts"].tolist() == [-1] * 7
    assert plain["breaks"][:, 0].nonzero().flatten().tolist() == [3, 5]


def test_partial_breaks_say_unknown_where_nobody_said():
    assert break_flags([2], 4).tolist() == [[0, 1], [0, 1], [1, 1], [0, 1]]
    assert break_flags([2], 4, complete=False).tolist() == [[0, 0], [0, 0], [1, 1], [0, 0]]
    partial = Song("p", tuple("abcd"), breaks=(2,), breaks_complete=False)
    assert SongDataset([partial], [_feats(4)])[0]["breaks"].tolist() == [
        [0, 0],
        [0, 0],
        [1, 1],
        [0, 0],
    ]


def _tagger(**kwargs) -> LyricsTagger:
    net = TaggerNet(
        5,
        hidden_size=8,
        num_layers=1,
        projection_size=8,
        dropout=0.0,
        breaks=True,
        sections=True,
        section_classes=default_section_map().classes,
    )
    return LyricsTagger(net, CrossEntropyLoss(), optimizer=torch.optim.Adam, **kwargs)


def _batch(songs: list[Song]) -> dict:
    torch.manual_seed(0)
    data = SongDataset(songs, [_feats(len(s)) for s in songs], starts_from_breaks=True)
    return collate_songs([data[i] for i in range(len(data))])


def test_stanza_songs_give_no_verse_chorus_or_class_loss():
    tagger = _tagger(break_dropout=0.0)
    components = {}
    tagger.log = lambda name, value, **_: components.__setitem__(name, float(value.detach()))
    total, _ = tagger._loss(_batch([STANZA_SONG, STANZA_SONG]), "val")
    total.backward()
    grads = {n: p.grad for n, p in tagger.net.named_parameters()}
    assert all(g is None or g.abs().sum() == 0 for n, g in grads.items() if "classifier" in n)
    assert all(g is None or g.abs().sum() == 0 for n, g in grads.items() if "section_head" in n)
    assert any(g.abs().sum() > 0 for n, g in grads.items() if "start_head" in n)
    # beside a labelled song, the verse/chorus loss is that song's alone
    mixed = _batch([LABELLED, STANZA_SONG])
    heads = tagger.net.forward_heads(mixed["features"], mixed["mask"], None, mixed["breaks"])
    alone = torch.nn.functional.cross_entropy(heads["label"][0, :6], mixed["labels"][0, :6])
    tagger._loss(mixed, "val")
    assert components["val/loss/ce"] == pytest.approx(float(alone.detach()), abs=1e-6)


def test_unlabelled_lines_count_in_no_verse_chorus_metric():
    tagger = _tagger()
    tagger.log = lambda *args, **kwargs: None
    tagger._evaluate(_batch([STANZA_SONG]), "val")
    assert int(tagger.metrics["val"]["token"].confmat.sum()) == 0
    tagger._evaluate(_batch([LABELLED, STANZA_SONG]), "val")
    assert int(tagger.metrics["val"]["token"].confmat.sum()) == 6


def test_break_dropout_tells_each_song_all_none_or_some_of_its_breaks():
    torch.manual_seed(1)
    n, songs = 40, 600
    breaks = torch.stack([break_flags(range(2, n, 3), n) for _ in range(songs)])
    out = _tagger(break_dropout=0.3, break_partial=0.4)._drop_breaks(breaks)
    regimes = {"none": 0, "all": 0, "some": 0}
    for song in out:
        if song.abs().sum() == 0:
            regimes["none"] += 1
        elif torch.equal(song, breaks[0]):
            regimes["all"] += 1
        else:
            regimes["some"] += 1
            told = song[:, 0] > 0
            assert torch.equal(song[:, 1], song[:, 0])  # known exactly where told: no "no break"
            assert bool((breaks[0][told, 0] > 0).all())  # only true breaks are told
    assert regimes["none"] / songs == pytest.approx(0.3, abs=0.07)
    assert regimes["some"] / songs == pytest.approx(0.4, abs=0.07)
    assert regimes["all"] / songs == pytest.approx(0.3, abs=0.07)
    shares = [float(s[:, 0].sum()) / 13 for s in out if 0 < s[:, 1].sum() < n]
    assert min(shares) < 0.2 and max(shares) > 0.8  # u ~ U(0, 1): few told, or most
    unknown = torch.zeros(3, n, 2)  # songs whose breaks nobody knows stay unknown
    assert torch.equal(_tagger(break_partial=0.5)._drop_breaks(unknown), unknown)


def _datamodule(tmp_path: Path, *overrides: str):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[*tmp_paths(tmp_path), "data=tiny", "features=fast", *overrides],
        )
    data = instantiate(cfg.data)
    data.setup("fit")
    return data


def test_held_out_artists_never_reach_training_by_default(tmp_path):
    held, kept = _stanza_corpus(tmp_path / "stanzas")
    extra = f"data.extra_dirs=[{tmp_path / 'stanzas'}]"
    data = _datamodule(tmp_path, extra)
    ids = {s.id for s in data.splits["train"].songs}
    assert kept <= ids and not held & ids
    assert len(data.train_weights) == len(data.splits["train"])
    assert int(data.class_counts.sum()) == sum(len(s) for s in data.splits["train"].songs[:8])
    stanza = [
        data.splits["train"][i] for i, s in enumerate(data.splits["train"].songs) if s.id in kept
    ]
    assert all(item["breaks"].abs().sum() == 0 and item["starts"][0] == 1 for item in stanza)
    everyone = _datamodule(tmp_path, extra, "data.hold_out_artists=false")
    assert held <= {s.id for s in everyone.splits["train"].songs}


def test_a_stanza_corpus_trains_beside_labelled_songs(tmp_path):
    """A prepared split (``python -m lyricseg.commands.stanzas``): unlabelled train and val."""
    from lyricseg.data.stanzas import write_stanza_split

    _stanza_corpus(tmp_path / "source", songs_per_artist=3)
    write_stanza_split(tmp_path / "source", tmp_path / "stanzas")
    metrics, _ = train_tiny(
        tmp_path,
        f"data.extra_dirs=[{tmp_path / 'stanzas'}]",
        "model.net.sections=true",
        "model.net.breaks=true",
        "decoder=joint",
        "trainer.max_epochs=2",
    )
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in metrics.values())
    assert metrics["train/loss/start"] > 0 and "val/macro_f1" in metrics
    # the held-out val.jsonl has no labels: no verse/chorus scores of nothing
    assert "val_stanzas/loss" in metrics and "val_stanzas/macro_f1" not in metrics


def test_an_extra_song_with_nothing_to_learn_is_refused(tmp_path):
    from lyricseg.utils.errors import LyricsegError

    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "train.jsonl").write_text('{"id": "x", "lines": ["a", "b"]}\n')
    with pytest.raises(LyricsegError, match="'x' has no labels, sections or stanza breaks"):
        _datamodule(tmp_path, f"data.extra_dirs=[{tmp_path / 'bare'}]")


def test_jsonl_says_partial_breaks_and_round_trips(tmp_path):
    from lyricseg.data.songs import DataError, parse_jsonl_bytes, write_jsonl

    record = {"id": "p", "lines": ["a", "", "b", "c"], "breaks_complete": False}
    (song,) = parse_jsonl_bytes(json.dumps(record).encode(), "x.jsonl", require_labels=False)
    assert song.breaks == (1,) and not song.breaks_complete
    write_jsonl(tmp_path / "out.jsonl", [song])
    (back,) = parse_jsonl_bytes((tmp_path / "out.jsonl").read_bytes(), "out.jsonl", False)
    assert back == song
    for bad, message in (
        ({"breaks_complete": "no"}, "must be true or false"),
        ({"lines": ["a", "b"], "breaks_complete": False}, "but no stanza breaks"),
    ):
        data = json.dumps({**record, **bad}).encode()
        with pytest.raises(DataError, match=message):
            parse_jsonl_bytes(data, "x.jsonl", require_labels=False)
