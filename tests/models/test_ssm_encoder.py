"""The banded SSM encoder against the plain convolution over whole SSMs."""

import pytest
import torch
from torch import nn

from lyricseg.models.components import SSMEncoder


def unbanded(encoder: SSMEncoder, ssm: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The encoder as first written: every layer over the whole ``[B, C, T, T]`` maps."""
    cols = mask[:, None, None, :]
    cells = (mask[:, None, :, None] & cols).to(ssm.dtype)
    maps = ssm
    for layer in encoder.convs:
        maps = layer(maps) * cells if isinstance(layer, nn.Conv2d) else layer(maps)
    peak = maps.masked_fill(~cols, torch.finfo(maps.dtype).min).amax(dim=-1)
    count = mask.sum(dim=1).clamp(min=1)[:, None, None].to(maps.dtype)
    mean = maps.masked_fill(~cols, 0.0).sum(dim=-1) / count
    return torch.cat([peak, mean], dim=1).transpose(1, 2)


def batch_of(lengths: list[int], views: int = 3, seed: int = 0):
    """Zero-padded uint8 SSMs (symmetric, 255 on the diagonal) and their mask."""
    gen = torch.Generator().manual_seed(seed)
    width = max(lengths)
    mask = torch.arange(width)[None] < torch.tensor(lengths)[:, None]
    codes = torch.randint(0, 256, (len(lengths), views, width, width), generator=gen)
    codes = torch.maximum(codes, codes.transpose(-1, -2))
    codes[..., range(width), range(width)] = 255
    codes = codes * (mask[:, None, :, None] & mask[:, None, None, :])
    return codes.to(torch.uint8), mask


def encoder(layers: int = 2, band_cells: int = 1 << 21, seed: int = 1) -> SSMEncoder:
    torch.manual_seed(seed)
    return SSMEncoder(3, channels=8, layers=layers, band_cells=band_cells).eval()


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("band_cells", [1, 200, 3000, 1 << 30])  # 1 row a band ... one band
@pytest.mark.parametrize("lengths", [[23], [23, 9, 1, 17]])
def test_bands_equal_the_unbanded_encoder(layers, band_cells, lengths):
    codes, mask = batch_of(lengths)
    net = encoder(layers, band_cells)
    with torch.no_grad():
        expected = unbanded(net, codes.float() / 255.0, mask)
        from_codes = net(codes, mask)
        from_floats = net(codes.float() / 255.0, mask)
    assert from_codes.shape == (len(lengths), max(lengths), net.out_dim)
    torch.testing.assert_close(from_codes, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(from_floats, expected, atol=1e-5, rtol=0)


def test_a_song_does_not_depend_on_its_batch():
    codes, mask = batch_of([30, 12, 5])
    net = encoder(band_cells=400)
    with torch.no_grad():
        together = net(codes, mask)
        for b, n in enumerate([30, 12, 5]):
            alone = net(codes[b : b + 1, :, :n, :n], mask[b : b + 1, :n])
            torch.testing.assert_close(together[b, :n], alone[0], atol=1e-5, rtol=0)
            assert (together[b, n:] == 0).all()


def test_masks_with_holes_equal_the_unbanded_encoder():
    codes, mask = batch_of([19, 19])
    mask[0, 4:7] = False  # not a padded end: lines masked inside the song
    mask[1, 0] = False
    net = encoder(band_cells=500)
    with torch.no_grad():
        expected = unbanded(net, codes.float() / 255.0, mask)
        got = net(codes, mask)
    torch.testing.assert_close(got[mask], expected[mask], atol=1e-5, rtol=0)


def test_gradients_equal_the_unbanded_encoder():
    codes, mask = batch_of([21, 8])
    banded, reference = encoder(band_cells=300), encoder(band_cells=300)
    weights = torch.randn(2, 21, banded.out_dim)
    (banded(codes, mask) * weights).sum().backward()
    (unbanded(reference, codes.float() / 255.0, mask) * weights).sum().backward()
    for (name, a), b in zip(banded.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-4, rtol=1e-4, msg=name)


def test_inference_and_training_paths_agree():
    """Inference fuses each activation into its convolution; training runs them apart."""
    codes, mask = batch_of([26, 11])
    net = encoder(band_cells=600)
    with torch.no_grad():
        fused = net(codes, mask)
    plain = net(codes, mask)  # gradients on: the unfused path
    assert plain.requires_grad
    torch.testing.assert_close(fused, plain.detach(), atol=1e-5, rtol=0)


def test_parameter_names_are_those_of_stored_models():
    net = SSMEncoder(3, channels=16, layers=2)
    assert sorted(net.state_dict()) == [
        "convs.0.bias",
        "convs.0.weight",
        "convs.2.bias",
        "convs.2.weight",
    ]
    stored = {k: torch.randn_like(v) for k, v in net.state_dict().items()}
    net.load_state_dict(stored)  # strict: the names and shapes of earlier checkpoints


def test_no_activation_holds_the_whole_song(monkeypatch):
    width, band_cells, channels = 300, 8 * 300 * 12, 8  # 12 rows a band, context included
    heights = []
    conv_act = SSMEncoder._conv_act

    def recording(maps, conv, act):
        out = conv_act(maps, conv, act)
        heights.append(out.shape[2])
        return out

    monkeypatch.setattr(SSMEncoder, "_conv_act", staticmethod(recording))
    codes, mask = batch_of([width], seed=3)
    net = encoder(band_cells=band_cells)
    with torch.no_grad():
        out = net(codes, mask)
    assert out.shape == (1, width, 2 * channels)
    assert heights and max(heights) <= 12
    monkeypatch.undo()
    with torch.no_grad():
        expected = unbanded(net, codes.float() / 255.0, mask)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
