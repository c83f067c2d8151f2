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


# -- lines without words ----------------------------------------------------------------------

SYMBOL_LINES = ["...", "—", "♪", "!!", "♪ ♪ ♪", "( ... )"]


@pytest.mark.parametrize(
    "view", ["string", "exact", "head", "tail", "rhyme", "phonetic", "syllable"]
)
def test_lines_without_words_score_zero_in_every_view(extractor, view):
    from lyricseg.features import SongText

    lines = [*SYMBOL_LINES, "we sing all night", "we sing all night", "under the moon"]
    sim = extractor.views[view](SongText.from_lines(lines))
    empty = len(SYMBOL_LINES)
    assert sim.shape == (len(lines), len(lines))
    np.testing.assert_array_equal(np.diag(sim), 1.0)
    off = ~np.eye(len(lines), dtype=bool)
    assert (sim[:empty][off[:empty]] == 0).all() and (sim[:, :empty][off[:, :empty]] == 0).all()
    assert sim[empty, empty + 1] == 1.0  # real repeats still score 1
    np.testing.assert_array_equal(sim, sim.T)


def test_lines_without_words_form_no_repeated_block(extractor):
    lines = ["...", "♪", "—", "sunrise over water", "...", "♪", "—", "broken clocks tick", "..."]
    feats = extractor(lines)
    for view in extractor.block_views:
        assert (column(extractor, feats, f"{view}/run_max_log") == 0).all(), view
        assert (column(extractor, feats, f"{view}/block_start") == 0).all(), view
    symbols = [i for i, line in enumerate(lines) if not any(c.isalpha() for c in line)]
    for view in extractor.views:
        assert (column(extractor, feats, f"{view}/max")[symbols] == 0).all(), view
    assert (column(extractor, feats, "song_repeated_share") == 0).all()


def test_lines_without_words_act_like_lines_unlike_any_other(extractor):
    chorus = ["we sing all night", "under the moon", "we sing all night long"]
    with_symbols = ["verse one here", *chorus, "...", "verse two here", "♪", "♪", *chorus, "—"]
    with_unique = ["verse one here", *chorus, "zqx", "verse two here", "vbk", "jfw", *chorus, "pzt"]
    a, b = extractor(with_symbols), extractor(with_unique)
    for view in extractor.block_views:
        for stat in ("run_max_log", "n_run2_log", "block_start", "block_end"):
            np.testing.assert_array_equal(
                column(extractor, a, f"{view}/{stat}"), column(extractor, b, f"{view}/{stat}")
            )


def test_fuzzy_views_against_pairwise_ratio(extractor):
    from rapidfuzz import fuzz

    from lyricseg.features import SongText

    lines = ["Hello there, friend", "hello there friend!", "...", "♪", "goodbye now", "Hello"]
    text = SongText.from_lines(lines)
    sim = extractor.views["string"](text)
    for i, a in enumerate(text.norm):
        for j, b in enumerate(text.norm):
            if i == j:
                expected = 1.0
            elif a and b:
                expected = int(fuzz.ratio(a, b) + 0.5) / 100  # scores are whole percents
            else:
                expected = 0.0
            assert sim[i, j] == pytest.approx(expected, abs=1e-6), (a, b)


# -- keyed SSMs, row and block statistics against brute force --------------------------------


def random_ssm(rng, n: int, u: int, empty: bool):
    from lyricseg.features.views import SSM

    table = rng.choice([0.0, 0.3, 0.7, 0.71, 0.9, 1.0], size=(u, u)).astype(np.float32)
    table = np.maximum(table, table.T)
    np.fill_diagonal(table, 1.0)
    if empty:  # key 0 is the empty key: 0 everywhere, its diagonal cell included
        table[0] = table[:, 0] = 0.0
    keys = rng.integers(0, u, n)
    return SSM(keys=keys, table=table)


def dense_by_loops(ssm) -> np.ndarray:
    n = len(ssm.keys)
    return np.array(
        [
            [1.0 if i == j else ssm.table[ssm.keys[i], ssm.keys[j]] for j in range(n)]
            for i in range(n)
        ],
        dtype=np.float32,
    )


def test_ssm_layouts_against_loops():
    rng = np.random.default_rng(5)
    for _ in range(50):
        ssm = random_ssm(rng, int(rng.integers(1, 20)), int(rng.integers(1, 6)), rng.random() < 0.5)
        sim = dense_by_loops(ssm)
        np.testing.assert_array_equal(ssm.dense(), sim)
        np.testing.assert_array_equal(ssm.quantized(), np.rint(sim * 255).astype(np.uint8))
        same = sim >= np.float32(0.7)
        np.fill_diagonal(same, False)
        np.testing.assert_array_equal(ssm.thresholded(0.7), same)


def test_row_statistics_against_brute_force():
    from lyricseg.features.summaries import row_statistics

    rng = np.random.default_rng(6)
    for _ in range(200):
        n, u = int(rng.integers(1, 15)), int(rng.integers(1, 6))
        ssm = random_ssm(rng, n, u, rng.random() < 0.5)
        sim = dense_by_loops(ssm)
        stats = row_statistics(ssm, 0.7)
        assert stats.shape == (n, 4) and stats.dtype == np.float32
        for i in range(n):
            others = sorted((float(sim[i, j]) for j in range(n) if j != i), reverse=True)
            if not others:
                assert (stats[i] == 0).all()
                continue
            expected = [
                others[0],
                sum(others) / len(others),
                sum(others[:3]) / len(others[:3]),
                sum(v >= np.float32(0.7) for v in others) / len(others),
            ]
            np.testing.assert_allclose(stats[i], expected, atol=1e-6)


def block_statistics_by_loops(same: np.ndarray) -> np.ndarray:
    """Every block statistic by its definition, cell by cell."""
    n = len(same)
    same = same & ~np.eye(n, dtype=bool)

    def run(i, j):  # (cells at or before (i, j), run length) along the diagonal
        if not same[i, j]:
            return 0, 0
        a = 0
        while i - a - 1 >= 0 and j - a - 1 >= 0 and same[i - a - 1, j - a - 1]:
            a += 1
        b = 0
        while i + b + 1 < n and j + b + 1 < n and same[i + b + 1, j + b + 1]:
            b += 1
        return a + 1, a + b + 1

    rows = []
    for i in range(n):
        cells = [run(i, j) for j in range(n)]
        totals = [t for _, t in cells]
        longest = max(totals)
        best = totals.index(longest)
        rows.append(
            [
                longest,
                sum(t >= 2 for t in totals),
                sum(t >= 3 for t in totals),
                sum(t >= 4 for t in totals),
                sum(same[i, :i]),
                sum(same[i, i + 1 :]),
                any(t >= 2 for t in totals[:i]),
                any(t >= 2 for t in totals[i + 1 :]),
                longest >= 2 and cells[best][0] == 1,
                longest >= 2 and cells[best][0] == longest,
            ]
        )
    return np.array(rows, dtype=np.float64)


@pytest.mark.parametrize("density", [0.03, 0.3, 0.8])  # the sparse and the dense path
def test_block_statistics_against_loops(density):
    from lyricseg.features.summaries import BLOCK_STATS, block_statistics

    rng = np.random.default_rng(int(density * 100))
    for trial in range(60):
        n = int(rng.integers(1, 30))
        same = rng.random((n, n)) < density
        if trial % 2:
            same |= same.T  # views are symmetric; the statistics do not need it
        feats, run_max = block_statistics(same, chunk=7)
        expected = block_statistics_by_loops(same)
        longest = expected[:, 0]
        np.testing.assert_array_equal(run_max, longest)
        decoded = np.column_stack(
            [
                np.expm1(feats[:, 0]),
                np.expm1(feats[:, 2]),
                np.expm1(feats[:, 3]),
                np.expm1(feats[:, 4]),
                np.expm1(feats[:, 5]),
                np.expm1(feats[:, 6]),
                feats[:, 7:],
            ]
        )
        np.testing.assert_allclose(decoded, expected[:, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]], atol=1e-4)
        np.testing.assert_allclose(feats[:, 1], longest / max(longest.max(), 1), atol=1e-6)
        assert feats.shape == (n, len(BLOCK_STATS))


def test_diagonal_runs_before_against_loops():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(1, 15))
        same = rng.random((n, n)) < 0.5
        before, _ = diagonal_runs(same)
        for i in range(n):
            for j in range(n):
                k = 0
                while i - k >= 0 and j - k >= 0 and same[i - k, j - k]:
                    k += 1
                assert before[i, j] == k


def test_long_song_features_without_square_temporaries(extractor):
    import tracemalloc

    n = 3000
    lines = [f"line {i % 97} of a very long song" if i % 5 else f"verse {i}" for i in range(n)]
    tracemalloc.start()
    feats = extractor(lines)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert feats.shape == (n, extractor.dim) and np.isfinite(feats).all()
    # A handful of n×n bytes at a time (the thresholded matrix, its runs as int16), never
    # the n×n float64 and 2n×n int32 temporaries of a straightforward implementation.
    assert peak < 14 * n * n, f"peak {peak / 2**20:.0f} MiB"


def test_views_on_threads_give_the_same_features(monkeypatch):
    import torch

    import lyricseg.features.extractor as module

    config = OmegaConf.load(REPO / "conf/features/default.yaml")
    config.ssm_views = ["string", "exact", "phonetic"]
    extractor = instantiate(config)
    chorus = ["we sing all night", "under the moon", "...", "we sing all night long"]
    lines = [f"verse line {i} goes on" if i % 7 else chorus[i % 4] for i in range(60)]
    monkeypatch.setattr(module, "PARALLEL_FROM", 10)
    one = extractor.extract(lines)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert module._threads(len(lines)) == 2
        two = extractor.extract(lines)
    finally:
        torch.set_num_threads(before)
    assert one[1].shape == (3, len(lines), len(lines))
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_cmu_table_matches_pronouncing():
    """The one-pass CMU reader gives every word the first pronunciation pronouncing gives."""
    pronouncing = pytest.importorskip("pronouncing", reason="pronouncing is a dev dependency")
    from lyricseg.features.text import _cmu

    pronouncing.init_cmu()
    expected: dict[str, str] = {}
    for word, phones in pronouncing.pronunciations:
        expected.setdefault(word, phones)
    assert _cmu() == expected


def test_parallel_featurization_equals_in_process(extractor):
    """Workers (forked after the first song warms the shared tables) give the same arrays."""
    from lyricseg.data import Song
    from lyricseg.data.featurize import featurize_songs

    songs = [
        Song(
            id=f"s{i}",
            lines=tuple(f"line {j % (i % 5 + 2)} of song {i} rhyme" for j in range(i + 3)),
        )
        for i in range(70)
    ]
    one = featurize_songs(songs, extractor, workers=1)
    two = featurize_songs(songs, extractor, workers=2)
    for (f1, s1), (f2, s2) in zip(one, two, strict=True):
        np.testing.assert_array_equal(f1, f2)
        assert (s1 is None) == (s2 is None)
