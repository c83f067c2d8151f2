import collections

import pytest
import torch

from lyricseg.data import BucketSampler, SyntheticCorpus, collate_songs
from lyricseg.features import ExactView, FeatureExtractor, StringView
from lyricseg.training.datamodule import LyricsDataModule


def extractor():
    return FeatureExtractor({"string": StringView(), "exact": ExactView()})


def test_collate_pads_and_masks():
    items = [
        {"id": "a", "index": 0, "features": torch.ones(1, 3), "labels": torch.tensor([1])},
        {"id": "b", "index": 1, "features": torch.ones(4, 3), "labels": torch.tensor([0, 1, 1, 0])},
    ]
    batch = collate_songs(items)
    assert batch["features"].shape == (2, 4, 3)
    assert batch["mask"].tolist() == [[True, False, False, False], [True] * 4]
    assert batch["labels"][0].tolist() == [1, -1, -1, -1]
    assert batch["features"][0, 1:].abs().sum() == 0


def test_bucket_sampler_is_a_permutation_with_similar_neighbours():
    lengths = [1, 500, 3, 480, 2, 510, 4, 490] * 4
    sampler = BucketSampler(lengths, batch_size=4, pool_batches=8, seed=1)
    order = list(sampler)
    assert sorted(order) == list(range(len(lengths)))
    for start in range(0, len(order), 4):
        batch = [lengths[i] for i in order[start : start + 4]]
        assert max(batch) - min(batch) < 100
    assert list(sampler) != order  # a new shuffle every epoch


def test_synthetic_corpus_is_deterministic_and_varied(tmp_path):
    corpus = SyntheticCorpus(n_train=60, n_val=5, n_test=5, seed=3)
    corpus.write(tmp_path / "a")
    SyntheticCorpus(n_train=60, n_val=5, n_test=5, seed=3).write(tmp_path / "b")
    assert (tmp_path / "a/train.jsonl").read_bytes() == (tmp_path / "b/train.jsonl").read_bytes()
    songs = corpus.songs("train")
    assert any(sum(s.labels) == 0 for s in songs), "songs without chorus"
    assert any(s.labels[0] == 1 for s in songs), "songs opening on the chorus"
    assert len({len(s) for s in songs}) > 10


def test_datamodule_featurizes_once_and_caches(tmp_path, monkeypatch):
    dm = LyricsDataModule(
        str(tmp_path / "data"),
        extractor(),
        generator=SyntheticCorpus(n_train=20, n_val=5, n_test=5),
        batch_size=4,
        cache_dir=str(tmp_path / "cache"),
    )
    dm.prepare_data()
    dm.setup("fit")
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2
    assert dm.class_counts.sum() == sum(len(s) for s in dm.splits["train"].songs)
    batch = next(iter(dm.train_dataloader()))
    assert batch["features"].shape[-1] == dm.features.dim

    calls = []
    monkeypatch.setattr(
        "lyricseg.data.featurize.featurize_songs", lambda *a, **k: calls.append(1) or []
    )
    again = LyricsDataModule(
        str(tmp_path / "data"), extractor(), batch_size=4, cache_dir=str(tmp_path / "cache")
    )
    again.setup("fit")
    assert calls == [] and len(again.splits["train"]) == 20


def test_weighted_sampling_draws_chorus_songs_more(tmp_path):
    dm = LyricsDataModule(
        str(tmp_path / "data"),
        extractor(),
        generator=SyntheticCorpus(n_train=40, n_val=5, n_test=5),
        weighted_sampling=True,
    )
    dm.prepare_data()
    dm.setup("fit")
    weights = dm._song_weights(dm.splits["train"])
    shares = torch.tensor([sum(s.labels) / len(s) for s in dm.splits["train"].songs])
    assert torch.corrcoef(torch.stack([weights.float(), shares.float()]))[0, 1] > 0.9


@pytest.mark.parametrize("weights", [[0.5] * 41, [1.0] * 10 + [0.3] * 17, [2.0, 0.7, 0.1, 1.5] * 9])
def test_weighted_bucket_sampler_gives_exactly_its_length_every_epoch(weights):
    """The trainer plans batches (and validation) from len(); a short epoch never validates."""
    sampler = BucketSampler(
        [3 + i % 7 for i in range(len(weights))], 4, pool_batches=2, seed=0, weights=weights
    )
    seen = collections.Counter()
    for _ in range(200):
        drawn = list(sampler)
        assert len(drawn) == len(sampler) == round(sum(weights))
        seen.update(drawn)
    for i, w in enumerate(weights):  # whole draws always; fractional ones by their odds
        assert int(w) * 200 <= seen[i] <= (int(w) + (w > int(w))) * 200
    if len(set(weights)) == 1:  # equal fractions: every song drawn about as often
        assert max(seen.values()) - min(seen.values()) < 60
