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


def joint_objective(section, label, start, classes, starts, chorus, penalty, weight):
    """JointDecoder's documented objective for one song (log-probs and start logits)."""
    log_s = torch.nn.functional.logsigmoid(start)
    log_not = torch.nn.functional.logsigmoid(-start)
    total = 0.0
    for t, c in enumerate(classes):
        total += float(section[t, c]) + weight * float(label[t, int(c in chorus)])
        if t:
            total += float(log_s[t]) - penalty if starts[t] else float(log_not[t])
    return total


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("penalty", [0.0, 0.7, 2.0])
def test_joint_decoder_matches_exhaustive_search(seed, penalty):
    from lyricseg.models.components import JointDecoder

    gen = torch.Generator().manual_seed(seed)
    n_classes, chorus, weight = 3, [1], 0.8
    batch, width = 3, 5
    heads = {
        "section": torch.randn(batch, width, n_classes, generator=gen) * 2,
        "label": torch.randn(batch, width, 2, generator=gen) * 2,
        "start": torch.randn(batch, width, generator=gen) * 2,
    }
    lengths = torch.tensor([width, 3, 1])
    mask = torch.arange(width)[None] < lengths[:, None]
    decoder = JointDecoder(switch_penalty=penalty, label_weight=weight, chorus_classes=chorus)
    out = decoder.decode(heads, mask)
    section = torch.log_softmax(heads["section"], -1)
    label = torch.log_softmax(heads["label"], -1)
    for b, n in enumerate(lengths.tolist()):
        args = (section[b, :n], label[b, :n], heads["start"][b, :n])
        best = -float("inf")
        for classes in itertools.product(range(n_classes), repeat=n):
            forced = [True] + [classes[t] != classes[t - 1] for t in range(1, n)]
            free = [t for t in range(1, n) if not forced[t]]
            for flags in itertools.product([False, True], repeat=len(free)):
                starts = list(forced)
                for t, f in zip(free, flags, strict=True):
                    starts[t] = f
                score = joint_objective(*args, classes, starts, chorus, penalty, weight)
                best = max(best, score)
        got_classes = out["classes"][b, :n].tolist()
        got_starts = out["starts"][b, :n].tolist()
        got = joint_objective(*args, got_classes, got_starts, chorus, penalty, weight)
        assert got == pytest.approx(best, abs=1e-4)
        # consistent by construction: a class change is a start, labels follow the class
        assert got_starts[0] == 1
        assert all(got_starts[t] for t in range(1, n) if got_classes[t] != got_classes[t - 1])
        assert out["labels"][b, :n].tolist() == [int(c in chorus) for c in got_classes]
        assert out["labels"][b, n:].eq(0).all() and out["starts"][b, n:].eq(0).all()


def test_joint_decoder_without_section_heads_is_viterbi():
    from lyricseg.models.components import JointDecoder

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 2, generator=gen)
    mask = torch.ones(2, 6, dtype=torch.bool)
    joint = JointDecoder(switch_penalty=1.0, chorus_classes=[3, 4])
    expected = ViterbiDecoder(1.0)(logits, mask)
    assert torch.equal(joint.decode({"label": logits}, mask)["labels"], expected)
    assert torch.equal(joint(logits, mask), expected)
