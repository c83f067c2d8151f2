import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from lyricseg.metrics import CalibrationMetrics
from lyricseg.metrics.functional import (
    _calibration_compute,
    _calibration_update,
    binary_ece,
)
from lyricseg.utils import LyricsegError


def torchmetrics_ce(probs, target, norm):
    two_class = torch.stack([1 - probs, probs], dim=-1)
    return multiclass_calibration_error(two_class, target, num_classes=2, n_bins=15, norm=norm)


@pytest.mark.parametrize("seed", range(8))
def test_ece_and_mce_match_torchmetrics(seed):
    gen = torch.Generator().manual_seed(seed)
    n = 3000
    probs = torch.rand(n, generator=gen) * 0.998 + 0.001  # avoid confidence exactly 1
    target = (torch.rand(n, generator=gen) < probs**1.5).long()
    metric = CalibrationMetrics()
    for chunk in torch.arange(n).chunk(7):
        p = probs[chunk].view(1, -1)
        t = target[chunk].view(1, -1)
        metric.update(preds=(p > 0.5).long(), target=t, mask=torch.ones_like(t).bool(), probs=p)
    out = metric.compute()
    ece, mce = torchmetrics_ce(probs, target, "l1"), torchmetrics_ce(probs, target, "max")
    assert out["ece"].item() == pytest.approx(ece.item(), abs=1e-6)
    assert out["mce"].item() == pytest.approx(mce.item(), abs=1e-6)
    assert binary_ece(probs, target).item() == pytest.approx(out["ece"].item(), abs=1e-12)
    conf = torch.maximum(probs, 1 - probs)
    assert out["conf_over_95"].item() == pytest.approx((conf > 0.95).float().mean().item())
    assert out["conf_over_90"].item() == pytest.approx((conf > 0.90).float().mean().item())


def test_hand_computed_case():
    # confidences 0.6 (right), 0.6 (wrong), 0.97 (right), 1.0 (right)
    probs = torch.tensor([[0.6, 0.4, 0.97, 1.0, 0.3]])
    target = torch.tensor([[1, 1, 1, 1, 0]])
    mask = torch.tensor([[True, True, True, True, False]])
    out = _calibration_compute(*_calibration_update(probs, target, mask))
    # bin [0.6, 0.667): acc 0.5 conf 0.6; last bin: acc 1, conf 0.985
    assert out["ece"].item() == pytest.approx((2 * 0.1 + 2 * 0.015) / 4, abs=1e-6)
    assert out["mce"].item() == pytest.approx(0.1, abs=1e-6)
    assert out["conf_over_95"].item() == 0.5
    assert out["conf_over_90"].item() == 0.5


def test_states_are_constant_size_sums():
    metric = CalibrationMetrics()
    for name, reduce in metric._reductions.items():
        assert getattr(metric, name).shape in {(3, 15), (3,)}
        assert reduce is not None, name
    with pytest.raises(LyricsegError, match="probs"):
        metric.update(
            preds=torch.zeros(1, 2, dtype=torch.long),
            target=torch.zeros(1, 2, dtype=torch.long),
            mask=torch.ones(1, 2, dtype=torch.bool),
        )
