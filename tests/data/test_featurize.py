"""The feature cache: recomputed exactly when the corpus, the features or their code change."""

import numpy as np
import pytest

import lyricseg.features.extractor as extractor_module
from lyricseg.data.featurize import load_featurized
from lyricseg.features import ExactView, FeatureExtractor, StringView


def make_extractor(threshold: float = 0.7, ssm_views=("string",)) -> FeatureExtractor:
    views = {"string": StringView(threshold=threshold), "exact": ExactView()}
    return FeatureExtractor(views, ssm_views=ssm_views)


def load(path, extractor, cache):
    return load_featurized(path, extractor, cache, require_labels=False)


def assert_same(a, b):
    assert len(a) == len(b)
    for (fa, sa), (fb, sb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa, fb)
        np.testing.assert_array_equal(sa, sb)


def test_unchanged_file_and_config_hit_the_cache(corpus, tmp_path, calls):
    cache = tmp_path / "cache"
    songs, first = load(corpus, make_extractor(), cache)
    assert calls == [len(songs)] and len(list(cache.iterdir())) == 1
    again_songs, again = load(corpus, make_extractor(), cache)  # a fresh, equal extractor
    assert calls == [len(songs)]  # not featurized again
    assert again_songs == songs
    assert_same(again, first)


def test_changed_file_content_misses_the_cache(corpus, tmp_path, calls):
    cache = tmp_path / "cache"
    load(corpus, make_extractor(), cache)
    lines = corpus.read_text().splitlines()
    corpus.write_text("\n".join(lines[:-1]) + "\n")  # same name, one song fewer
    songs, feats = load(corpus, make_extractor(), cache)
    assert len(calls) == 2 and len(feats) == len(songs) == len(lines) - 1
    assert [len(f) for f, _ in feats] == [len(s) for s in songs]


def test_a_one_byte_edit_misses_the_cache(corpus, tmp_path, calls):
    cache = tmp_path / "cache"
    load(corpus, make_extractor(), cache)
    corpus.write_bytes(corpus.read_bytes().replace(b"Rain is", b"Rain Is", 1))
    songs, feats = load(corpus, make_extractor(), cache)
    assert len(calls) == 2
    np.testing.assert_array_equal(feats[0][0], make_extractor().extract(songs[0].lines)[0])


@pytest.mark.parametrize(
    "other",
    [
        lambda: make_extractor(threshold=0.8),
        lambda: make_extractor(ssm_views=()),
        lambda: FeatureExtractor({"string": StringView(), "exact": ExactView()}, max_chars=80),
    ],
)
def test_changed_extractor_config_misses_the_cache(corpus, tmp_path, calls, other):
    cache = tmp_path / "cache"
    load(corpus, make_extractor(), cache)
    extractor = other()
    songs, feats = load(corpus, extractor, cache)
    assert len(calls) == 2
    assert_same(feats, [extractor.extract(s.lines) for s in songs])


def test_feature_version_change_misses_the_cache(corpus, tmp_path, calls, monkeypatch):
    cache = tmp_path / "cache"
    extractor = make_extractor()
    load(corpus, extractor, cache)
    monkeypatch.setattr(extractor_module, "FEATURE_VERSION", extractor_module.FEATURE_VERSION + 1)
    load(corpus, extractor, cache)
    assert len(calls) == 2
    load(corpus, extractor, cache)  # and the new version's entry is then reused
    assert len(calls) == 2


def test_unreadable_cache_entry_is_recomputed(corpus, tmp_path, calls):
    cache = tmp_path / "cache"
    _, first = load(corpus, make_extractor(), cache)
    (entry,) = cache.iterdir()
    entry.write_bytes(b"not a torch file")
    _, again = load(corpus, make_extractor(), cache)
    assert len(calls) == 2
    assert_same(again, first)


def test_cache_entry_of_other_songs_is_recomputed(corpus, tmp_path, calls):
    import torch

    cache = tmp_path / "cache"
    _, first = load(corpus, make_extractor(), cache)
    (entry,) = cache.iterdir()
    torch.save(torch.load(entry, weights_only=True)[:-1], entry)  # loadable, one song short
    _, again = load(corpus, make_extractor(), cache)
    assert len(calls) == 2
    assert_same(again, first)


def test_no_cache_dir_always_computes(corpus, calls):
    load(corpus, make_extractor(), None)
    load(corpus, make_extractor(), None)
    assert len(calls) == 2
