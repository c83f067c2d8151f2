import torch

from lyricseg.models.components import LineSelfAttention, SSMEncoder, TaggerNet, ViterbiDecoder


def test_tagger_ignores_padding():
    torch.manual_seed(0)
    net = TaggerNet(
        5,
        hidden_size=8,
        num_layers=1,
        projection_size=8,
        attention=lambda d: LineSelfAttention(d, heads=2, window=2),
    ).eval()
    x = torch.randn(1, 4, 5)
    mask = torch.ones(1, 4, dtype=torch.bool)
    padded = torch.cat([x, torch.randn(1, 3, 5) * 100], dim=1)
    pmask = torch.cat([mask, torch.zeros(1, 3, dtype=torch.bool)], dim=1)
    assert torch.allclose(net(x, mask), net(padded, pmask)[:, :4], atol=1e-5)


def test_ssm_encoder_shapes_and_padding():
    torch.manual_seed(0)
    enc = SSMEncoder(2, channels=3).eval()
    ssm = torch.rand(1, 2, 5, 5)
    mask = torch.ones(1, 5, dtype=torch.bool)
    out = enc(ssm, mask)
    assert out.shape == (1, 5, 6)
    padded = torch.zeros(1, 2, 8, 8)
    padded[:, :, :5, :5] = ssm
    pmask = torch.tensor([[True] * 5 + [False] * 3])
    # zero padding influences border rows through the convolution only at real borders
    assert torch.allclose(enc(padded, pmask)[:, :5], out, atol=1e-5)


def test_viterbi_removes_islands_and_zero_penalty_is_argmax():
    probs = torch.tensor([[0.9, 0.9, 0.4, 0.9, 0.9, 0.1, 0.1, 0.1]])
    logits = torch.stack([torch.log1p(-probs), torch.log(probs)], dim=-1)
    mask = torch.ones(1, 8, dtype=torch.bool)
    assert ViterbiDecoder(0.0)(logits, mask).tolist() == [[1, 1, 0, 1, 1, 0, 0, 0]]
    assert ViterbiDecoder(1.0)(logits, mask).tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]


def test_viterbi_respects_song_lengths():
    logits = torch.randn(3, 6, 2)
    mask = torch.tensor([[1] * 6, [1] * 2 + [0] * 4, [1] + [0] * 5], dtype=torch.bool)
    batch = ViterbiDecoder(0.5)(logits, mask)
    for b in range(3):
        n = int(mask[b].sum())
        alone = ViterbiDecoder(0.5)(logits[b : b + 1, :n], mask[b : b + 1, :n])
        assert batch[b, :n].tolist() == alone[0].tolist()
