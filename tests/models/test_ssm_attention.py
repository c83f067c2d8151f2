"""SSMAttention: diagonal context, padding independence, the SSM steering the attention."""

import torch

from lyricseg.models.components import SSMAttention, TaggerNet
from lyricseg.models.components.ssm_attention import diagonal_context


def test_diagonal_context_reads_the_cells_along_the_diagonal():
    ssm = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    ctx = diagonal_context(ssm, reach=1)  # [1, 4, 4, 3]: (i-1, j-1), (i, j), (i+1, j+1)
    assert ctx.shape == (1, 4, 4, 3)
    assert ctx[0, 1, 2].tolist() == [ssm[0, 0, 0, 1], ssm[0, 0, 1, 2], ssm[0, 0, 2, 3]]
    assert ctx[0, 0, 0, 0] == 0 and ctx[0, 3, 3, 2] == 0  # beyond the edges
    quantized = (ssm / 15 * 255).round().to(torch.uint8)
    assert torch.allclose(diagonal_context(quantized, 1), diagonal_context(ssm / 15, 1), atol=3e-3)


def test_a_song_does_not_depend_on_its_batch():
    torch.manual_seed(0)
    block = SSMAttention(dim=8, ssm_channels=2, heads=2).eval()
    h, ssm = torch.randn(1, 5, 8), torch.rand(1, 2, 5, 5)
    alone = block(h, ssm, torch.ones(1, 5, dtype=torch.bool))
    padded_h = torch.cat([h, torch.randn(1, 3, 8)], dim=1)
    padded_ssm = torch.zeros(1, 2, 8, 8)
    padded_ssm[:, :, :5, :5] = ssm
    padded_ssm[:, :, 5:, :] = padded_ssm[:, :, :, 5:] = 0.7  # whatever lies in the padding
    mask = torch.tensor([[True] * 5 + [False] * 3])
    batched = block(padded_h, padded_ssm, mask)
    assert torch.allclose(batched[:, :5], alone, atol=1e-5)


def test_the_ssm_steers_which_lines_are_attended():
    """With queries and keys zeroed, only the SSM bias can move the attention."""
    torch.manual_seed(0)
    block = SSMAttention(dim=4, ssm_channels=1, heads=1, dropout=0.0).eval()
    with torch.no_grad():
        block.qk.weight.zero_()
        block.qk.bias.zero_()
        block.value.weight.copy_(torch.eye(4))  # values = h
        block.value.bias.zero_()
        block.out.weight.copy_(torch.eye(4))
        block.out.bias.zero_()
        block.bias[0].weight.zero_()
        block.bias[0].weight[0, 1] = 20.0  # s(i, j) itself
        block.bias[0].bias.zero_()
        block.bias[2].weight.fill_(1.0)
        block.bias[2].bias.zero_()
    h = torch.eye(4)[None]  # one-hot lines
    ssm = torch.zeros(1, 1, 4, 4)
    ssm[0, 0, 0, 3] = ssm[0, 0, 3, 0] = 1.0  # line 0 repeats line 3
    lines = torch.ones(1, 4, dtype=torch.bool)
    with torch.no_grad():
        block.norm = torch.nn.Identity()
        mixed = block(h, ssm, lines) - h
    assert mixed[0, 0].argmax() == 3 and mixed[0, 3].argmax() == 0
    assert mixed[0, 1].max() - mixed[0, 1].min() < 0.2  # no partner: near-uniform


def test_tagger_net_with_ssm_attention_trains_end_to_end():
    torch.manual_seed(0)
    from functools import partial

    net = TaggerNet(
        input_dim=6,
        hidden_size=8,
        num_layers=1,
        projection_size=8,
        ssm_channels=3,
        ssm_attention=partial(SSMAttention, heads=2),
    )
    features, ssm = torch.randn(2, 7, 6), torch.rand(2, 3, 7, 7)
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    net(features, mask, ssm).sum().backward()
    assert net.ssm_attention.bias[0].weight.grad.abs().sum() > 0
