"""Collated SSMs: uint8 codes by default, floats in [0, 1] on request, zero padding."""

import numpy as np
import pytest
import torch

from lyricseg.data import Song, SongDataset, collate_songs
from lyricseg.features import ExactView, FeatureExtractor, StringView
from lyricseg.models.components import SSMEncoder

SONGS = [
    Song("a", ("we sing all night", "under the moon", "we sing all night", "the end")),
    Song("b", ("only once", "only twice")),
]


@pytest.fixture(scope="module")
def dataset():
    extractor = FeatureExtractor(
        {"string": StringView(), "exact": ExactView()}, ssm_views=["string", "exact"]
    )
    return SongDataset(SONGS, [extractor.extract(s.lines) for s in SONGS])


def test_ssms_stay_uint8_codes_by_default(dataset):
    batch = collate_songs([dataset[0], dataset[1]])
    ssm = batch["ssm"]
    assert ssm.dtype == torch.uint8 and ssm.shape == (2, 2, 4, 4)
    np.testing.assert_array_equal(ssm[0].numpy(), dataset.ssms[0].numpy())
    np.testing.assert_array_equal(ssm[1, :, :2, :2].numpy(), dataset.ssms[1].numpy())
    assert (ssm[1, :, 2:] == 0).all() and (ssm[1, :, :, 2:] == 0).all()


def test_float_ssms_are_the_codes_over_255(dataset):
    codes = collate_songs([dataset[0], dataset[1]])["ssm"]
    floats = collate_songs([dataset[0], dataset[1]], ssm_dtype=torch.float32)["ssm"]
    assert floats.dtype == torch.float32
    torch.testing.assert_close(floats, codes.float() / 255.0, atol=0, rtol=0)


def test_the_encoder_reads_both_alike(dataset):
    items = [dataset[0], dataset[1]]
    codes, floats = collate_songs(items), collate_songs(items, ssm_dtype=torch.float32)
    torch.manual_seed(0)
    encoder = SSMEncoder(2, channels=4).eval()
    with torch.no_grad():
        a = encoder(codes["ssm"], codes["mask"])
        b = encoder(floats["ssm"], floats["mask"])
    torch.testing.assert_close(a, b, atol=0, rtol=0)
