"""ViterbiDecoder against exhaustive search over every label sequence."""

import itertools

import pytest
import torch

from lyricseg.models.components import ArgmaxDecoder, ViterbiDecoder


def objective(log_probs, labels, penalty):
    """The documented objective: sum_t log p_t(y_t) - penalty * #label changes."""
    total = sum(float(log_probs[t, y]) for t, y in enumerate(labels))
    changes = sum(a != b for a, b in itertools.pairwise(labels))
    return total - penalty * changes


def brute_force(log_probs, penalty, classes=2):
    """Best objective and all label sequences reaching it (within float noise)."""
    n = log_probs.shape[0]
    scored = [
        (objective(log_probs, seq, penalty), seq)
        for seq in itertools.product(range(classes), repeat=n)
    ]
    best = max(score for score, _ in scored)
    return best, {seq for score, seq in scored if score >= best - 1e-5}


def random_batch(gen, batch, width, classes=2, scale=2.0):
    logits = torch.randn(batch, width, classes, generator=gen) * scale
    lengths = torch.randint(1, width + 1, (batch,), generator=gen)
    lengths[0] = width  # one full row, so the batch is as wide as its longest song
    mask = torch.arange(width)[None] < lengths[:, None]
    # padding holds large junk that must not influence the real lines
    logits = torch.where(mask[..., None], logits, torch.randn_like(logits) * 50)
    return logits, mask, lengths


@pytest.mark.parametrize("penalty", [0.0, 0.3, 1.0, 2.5])
@pytest.mark.parametrize("seed", range(6))
def test_viterbi_matches_exhaustive_search(seed, penalty):
    gen = torch.Generator().manual_seed(seed)
    width = 1 + seed % 8  # 1 .. 8 lines
    logits, mask, lengths = random_batch(gen, batch=5, width=width)
    decoded = ViterbiDecoder(penalty)(logits, mask)
    assert decoded.shape == mask.shape and decoded.dtype == torch.long
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    for b, n in enumerate(lengths.tolist()):
        best, optima = brute_force(log_probs[b, :n], penalty)
        labels = tuple(decoded[b, :n].tolist())
        assert objective(log_probs[b, :n], labels, penalty) == pytest.approx(best, abs=1e-4)
        assert labels in optima


def test_viterbi_matches_exhaustive_search_on_many_small_songs():
    gen = torch.Generator().manual_seed(42)
    for _ in range(150):
        width = int(torch.randint(1, 9, (1,), generator=gen))
        penalty = float(torch.rand(1, generator=gen)) * 3
        scale = float(torch.rand(1, generator=gen)) * 4
        logits, mask, lengths = random_batch(gen, batch=3, width=width, scale=scale)
        decoded = ViterbiDecoder(penalty)(logits, mask)
        log_probs = torch.log_softmax(logits.double(), dim=-1)
        for b, n in enumerate(lengths.tolist()):
            _, optima = brute_force(log_probs[b, :n], penalty)
            assert tuple(decoded[b, :n].tolist()) in optima, (width, penalty, b)


def test_three_classes_match_exhaustive_search():
    gen = torch.Generator().manual_seed(7)
    logits, mask, lengths = random_batch(gen, batch=4, width=6, classes=3)
    decoded = ViterbiDecoder(0.8)(logits, mask)
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    for b, n in enumerate(lengths.tolist()):
        _, optima = brute_force(log_probs[b, :n], 0.8, classes=3)
        assert tuple(decoded[b, :n].tolist()) in optima


def test_zero_penalty_is_argmax_and_large_penalty_is_constant():
    gen = torch.Generator().manual_seed(1)
    logits, mask, lengths = random_batch(gen, batch=6, width=8)
    argmax = ArgmaxDecoder()(logits, mask)
    viterbi = ViterbiDecoder(0.0)(logits, mask)
    huge = ViterbiDecoder(1e4)(logits, mask)
    log_probs = torch.log_softmax(logits, dim=-1)
    for b, n in enumerate(lengths.tolist()):
        assert viterbi[b, :n].tolist() == argmax[b, :n].tolist()
        assert len(set(huge[b, :n].tolist())) == 1
        assert huge[b, 0].item() == log_probs[b, :n].sum(0).argmax().item()
