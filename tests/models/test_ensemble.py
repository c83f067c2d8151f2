"""Ensembles: head averaging against its formulas, and predict.py ckpt=[...] end to end."""

import json

import pytest
import torch
from support import TINY, run_script, train_tiny

from lyricseg.data import read_jsonl
from lyricseg.inference import Predictor
from lyricseg.models.components import TaggerNet
from lyricseg.models.components.ensemble import EnsembleNet
from lyricseg.utils.errors import LyricsegError

CLASSES = ["verse", "chorus", "bridge"]


def _net(seed: int) -> TaggerNet:
    torch.manual_seed(seed)
    return TaggerNet(
        5, hidden_size=8, num_layers=1, projection_size=8, sections=True, section_classes=CLASSES
    ).eval()


def test_heads_are_averaged_probabilities():
    nets = [_net(0), _net(1), _net(2)]
    calibrators = [lambda z: torch.sigmoid(z[..., 1] - z[..., 0]), None, None]
    features, mask = torch.randn(2, 7, 5), torch.ones(2, 7, dtype=torch.bool)
    with torch.no_grad():
        heads = EnsembleNet(nets, calibrators).forward_heads(features, mask)
        members = [n.forward_heads(features, mask) for n in nets]
    for key in ("label", "section"):
        expected = torch.stack([m[key].softmax(-1) for m in members]).mean(0)
        torch.testing.assert_close(heads[key].exp(), expected)
    expected = torch.stack([m["start"].sigmoid() for m in members]).mean(0)
    torch.testing.assert_close(heads["start"].sigmoid(), expected)
    probs = [calibrators[0](members[0]["label"])] + [
        m["label"].softmax(-1)[..., 1] for m in members[1:]
    ]
    torch.testing.assert_close(heads["probs"], torch.stack(probs).mean(0))


def test_members_without_section_heads_give_labels_only():
    plain = TaggerNet(5, hidden_size=8, num_layers=1, projection_size=8).eval()
    heads = EnsembleNet([plain, _net(0)], [None, None]).forward_heads(
        torch.randn(1, 4, 5), torch.ones(1, 4, dtype=torch.bool)
    )
    assert set(heads) == {"label", "convention", "probs"}


def test_an_ensemble_of_one_model_twice_predicts_like_the_model(tiny_checkpoint):
    songs = read_jsonl(TINY / "val.jsonl")
    single = Predictor.from_checkpoint(tiny_checkpoint).predict(songs)
    twice = Predictor.from_checkpoint([tiny_checkpoint, tiny_checkpoint]).predict(songs)
    for a, b in zip(single, twice, strict=True):
        assert a.labels == b.labels
        assert a.probs == pytest.approx(b.probs, abs=1e-5)  # calibrated (Platt) both


def test_predict_script_averages_two_models_and_refuses_other_features(tiny_checkpoint, tmp_path):
    _, objects = train_tiny(tmp_path / "seed2", "calibration=platt", "seed=2")
    other = objects["best_path"]
    out = tmp_path / "ens.jsonl"
    result = run_script(
        "predict.py", f"ckpt=[{tiny_checkpoint},{other}]", f"input={TINY}/val.jsonl",
        f"output={out}", f"hydra.run.dir={tmp_path}/run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    songs = read_jsonl(TINY / "val.jsonl")
    members = [Predictor.from_checkpoint(p).predict(songs) for p in (tiny_checkpoint, other)]
    for record, a, b in zip(map(json.loads, out.read_text().splitlines()), *members, strict=True):
        mean = [(x + y) / 2 for x, y in zip(a.probs, b.probs, strict=True)]
        assert record["probs"] == pytest.approx(mean, abs=1e-5)
    _, fast = train_tiny(tmp_path / "fast", "features=fast", "trainer.max_epochs=1")
    with pytest.raises(LyricsegError, match="need the same features"):
        Predictor.from_checkpoint([tiny_checkpoint, fast["best_path"]])
    with pytest.raises(LyricsegError, match="names no checkpoint"):
        Predictor.from_checkpoint([])


def test_members_must_name_the_same_section_classes():
    assert EnsembleNet([_net(0), _net(1)], [None, None]).section_classes == tuple(CLASSES)
    plain = TaggerNet(5, hidden_size=8, num_layers=1, projection_size=8)
    assert EnsembleNet([_net(0), plain], [None, None]).section_classes is None
    other = TaggerNet(5, hidden_size=8, num_layers=1, projection_size=8, sections=True,
                      section_classes=["chorus", "verse", "bridge"])  # fmt: skip
    with pytest.raises(ValueError, match="other section classes"):
        EnsembleNet([_net(0), other], [None, None])
