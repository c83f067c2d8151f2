import pytest
import torch

from lyricseg.calibration import AutoCalibrator, TemperatureScaler, two_folds
from lyricseg.utils import LyricsegError


class LineRecorder(TemperatureScaler):
    """A candidate whose first logit holds the line index, so its fits reveal their folds."""

    name = "recorder"
    fits: list = []

    def fit(self, logits, labels, groups=None):
        LineRecorder.fits.append(sorted(logits[:, 0].long().tolist()))
        return super().fit(logits, labels, groups)


def line_indexed(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    margin = torch.randn(n, generator=gen) * 3
    labels = (torch.rand(n, generator=gen) < torch.sigmoid(margin / 3)).long()
    logits = torch.stack([torch.arange(n, dtype=torch.float32), torch.arange(n) + margin], -1)
    return logits, labels


@pytest.mark.parametrize("seed", range(5))
def test_auto_folds_keep_every_song_in_one_fold(seed):
    gen = torch.Generator().manual_seed(seed)
    n = 400
    # songs interleaved line by line, of uneven sizes
    groups = torch.randint(0, 13, (n,), generator=gen) * 7 + 100
    logits, labels = line_indexed(n, seed)
    LineRecorder.fits.clear()
    AutoCalibrator(candidates=[LineRecorder()], min_holdout=20, seed=seed).fit(
        logits, labels, groups
    )
    first, second, final = LineRecorder.fits
    assert final == list(range(n))
    assert sorted(first + second) == list(range(n))
    groups_first = {int(groups[i]) for i in first}
    groups_second = {int(groups[i]) for i in second}
    assert groups_first and groups_second
    assert not groups_first & groups_second


def test_auto_without_groups_uses_two_contiguous_blocks():
    n = 301
    logits, labels = line_indexed(n)
    LineRecorder.fits.clear()
    AutoCalibrator(candidates=[LineRecorder()], min_holdout=20).fit(logits, labels)
    first, second, _ = LineRecorder.fits
    assert first == list(range(150))
    assert second == list(range(150, n))


def test_auto_with_a_single_song_measures_in_sample():
    logits, labels = line_indexed(300)
    LineRecorder.fits.clear()
    auto = AutoCalibrator(candidates=[LineRecorder()], min_holdout=20)
    auto.fit(logits, labels, torch.zeros(300, dtype=torch.long))
    assert LineRecorder.fits == [list(range(300))] * 2  # in-sample score, then the final fit
    with pytest.raises(LyricsegError, match="group indices"):
        auto.fit(logits, labels, torch.zeros(299, dtype=torch.long))


@pytest.mark.parametrize("seed", range(20))
def test_two_folds_balance_lines(seed):
    gen = torch.Generator().manual_seed(seed)
    n_groups = int(torch.randint(2, 30, (1,), generator=gen))
    sizes = torch.randint(1, 40, (n_groups,), generator=gen)
    groups = torch.repeat_interleave(torch.arange(n_groups), sizes)
    groups = groups[torch.randperm(groups.numel(), generator=gen)]
    n = groups.numel()
    first, second = two_folds(n, groups, seed)
    assert torch.cat([first, second]).sort().values.tolist() == list(range(n))
    assert first.numel() and second.numel()
    assert not set(groups[first].tolist()) & set(groups[second].tolist())
    # a group joins the fold its middle falls in: folds differ by at most the largest group
    assert abs(first.numel() - second.numel()) <= int(sizes.max())
