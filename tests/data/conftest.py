"""Fixtures of the feature-cache tests (test_featurize.py, test_cache.py)."""

import shutil

import pytest
from support import TINY

import lyricseg.data.featurize as featurize


@pytest.fixture
def corpus(tmp_path):
    """A copy of the tiny corpus's val split, so that its cache lands in tmp_path."""
    path = tmp_path / "val.jsonl"
    shutil.copy(TINY / "val.jsonl", path)
    return path


@pytest.fixture
def calls(monkeypatch):
    """Count featurization runs (the cache's misses)."""
    counted = []
    real = featurize.featurize_songs

    def counting(songs, extractor, workers=1):
        counted.append(len(songs))
        return real(songs, extractor, workers)

    monkeypatch.setattr(featurize, "featurize_songs", counting)
    return counted
