import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from support import REPO

from lyricseg.features.summaries import diagonal_runs


@pytest.fixture(scope="module")
def extractor():
    return instantiate(OmegaConf.load(REPO / "conf/features/default.yaml"))


def column(extractor, feats, name):
    return feats[:, extractor.names.index(name)]


def test_shapes_and_finiteness(extractor):
    lines = ["Hello there", "General Kenobi", "Hello there", "You are a bold one"]
    feats = extractor(lines)
    assert feats.shape == (4, extractor.dim) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    assert len(set(extractor.names)) == extractor.dim


def test_single_line(extractor):
    feats = extractor(["only one line"])
    assert feats.shape == (1, extractor.dim) and np.isfinite(feats).all()


def test_all_identical_lines(extractor):
    feats = extractor(["na na na"] * 6)
    assert np.isfinite(feats).all()
    # every line repeats every other line; the diagonal itself is not counted
    assert np.allclose(column(extractor, feats, "exact/max"), 1.0)
    assert np.allclose(column(extractor, feats, "exact/frac_above"), 1.0)
    assert column(extractor, feats, "exact/run_max_rel").max() == 1.0


def test_no_repeats_gives_no_block_signal(extractor):
    lines = ["alpha beta", "gamma delta epsilon", "zeta", "eta theta iota kappa", "lambda mu"]
    feats = extractor(lines)
    assert (column(extractor, feats, "exact/max") == 0).all()
    assert (column(extractor, feats, "exact/run_max_log") == 0).all()
    assert (column(extractor, feats, "song_repeated_share") == 0).all()


def test_row_max_excludes_diagonal(extractor):
    feats = extractor(["abc def", "xyz uvw qrs", "mno pqr"])
    assert column(extractor, feats, "exact/max").max() == 0


def test_repeated_block_is_detected(extractor):
    chorus = ["we sing all night", "under the moon", "we sing all night long"]
    lines = ["verse one here", "verse one again", *chorus, "verse two here", "more verse", *chorus]
    feats = extractor(lines)
    runs = np.expm1(column(extractor, feats, "exact/run_max_log")).round()
    assert runs.tolist() == [0, 0, 3, 3, 3, 0, 0, 3, 3, 3]
    starts = column(extractor, feats, "exact/block_start")
    assert starts[2] == 1 and starts[7] == 1 and starts[3] == 0


def test_two_thousand_lines(extractor):
    lines = [f"line {i % 97} of a very long song" for i in range(2000)]
    feats = extractor(lines)
    assert feats.shape == (2000, extractor.dim) and np.isfinite(feats).all()


def test_prose_lines_are_bounded(extractor):
    feats = extractor(["word " * 700, "other " * 650, "word " * 700])
    assert np.isfinite(feats).all()
    assert column(extractor, feats, "exact/max")[0] == 1


def test_diagonal_runs_against_loops():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 15))
        same = rng.random((n, n)) < 0.4
        _, total = diagonal_runs(same)
        for i in range(n):
            for j in range(n):
                if not same[i, j]:
                    assert total[i, j] == 0
                    continue
                a, b = i, j
                while a > 0 and b > 0 and same[a - 1, b - 1]:
                    a, b = a - 1, b - 1
                length = 0
                while a < n and b < n and same[a, b]:
                    a, b, length = a + 1, b + 1, length + 1
                assert total[i, j] == length


def test_signature_changes_with_config(extractor):
    other = instantiate(OmegaConf.load(REPO / "conf/features/fast.yaml"))
    assert other.signature() != extractor.signature()
