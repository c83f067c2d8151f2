"""The feature cache: a damaged entry is a miss, an unwritable folder one warning."""

import errno
import logging
import os
import tempfile

import numpy as np
import pytest
import torch

import lyricseg.data.featurize as featurize
from lyricseg.data.featurize import load_featurized
from lyricseg.features import ExactView, FeatureExtractor, StringView


def make_extractor():
    return FeatureExtractor({"string": StringView(), "exact": ExactView()}, ssm_views=["string"])


def damage_width(entry):
    feats, ssm = entry
    return feats[:, :-1].clone(), ssm


def damage_dtype(entry):
    feats, ssm = entry
    return feats.double(), ssm


def damage_finite(entry):
    feats, ssm = entry
    feats = feats.clone()
    feats[0, 0] = float("nan")
    return feats, ssm


def damage_ssm(entry):
    feats, ssm = entry
    return feats, ssm.float()


@pytest.mark.parametrize("damage", [damage_width, damage_dtype, damage_finite, damage_ssm])
def test_a_damaged_entry_is_a_miss(corpus, tmp_path, calls, damage, caplog):
    cache = tmp_path / "cache"
    songs, fresh = load_featurized(corpus, make_extractor(), cache, require_labels=False)
    (entry_file,) = cache.iterdir()
    entries = torch.load(entry_file, weights_only=True)
    entries[-1] = damage(entries[-1])
    torch.save(entries, entry_file)
    with caplog.at_level(logging.WARNING, logger="lyricseg"):
        _, again = load_featurized(corpus, make_extractor(), cache, require_labels=False)
    assert calls == [len(songs), len(songs)]  # recomputed, not read
    assert any("Ignoring unusable feature cache" in m for m in caplog.messages)
    for (fa, sa), (fb, sb) in zip(again, fresh, strict=True):
        np.testing.assert_array_equal(fa, fb)
        np.testing.assert_array_equal(sa, sb)
    load_featurized(corpus, make_extractor(), cache, require_labels=False)
    assert len(calls) == 2  # the recomputed entry replaced the damaged one


def fail_with(code):
    def raiser(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return raiser


@pytest.mark.parametrize(("where", "code"), [("mkstemp", errno.EROFS), ("fsync", errno.ENOSPC)])
def test_an_unwritable_cache_warns_once_and_goes_on(
    corpus, tmp_path, monkeypatch, caplog, where, code
):
    monkeypatch.setattr(featurize, "_UNWRITABLE", set())
    if where == "mkstemp":  # a read-only folder (chmod does not stop root)
        monkeypatch.setattr(tempfile, "mkstemp", fail_with(code))
    else:  # a full disk
        monkeypatch.setattr(os, "fsync", fail_with(code))
    cache = tmp_path / "cache"
    other = tmp_path / "other.jsonl"
    other.write_text(corpus.read_text().splitlines()[0] + "\n")
    with caplog.at_level(logging.WARNING, logger="lyricseg"):
        songs, feats = load_featurized(corpus, make_extractor(), cache, require_labels=False)
        load_featurized(other, make_extractor(), cache, require_labels=False)
    assert [len(f) for f, _ in feats] == [len(s) for s in songs]
    warnings = [m for m in caplog.messages if "Not caching features" in m]
    assert len(warnings) == 1 and os.strerror(code) in warnings[0]
    assert not cache.exists() or list(cache.iterdir()) == []  # no temporary file left
