"""ViterbiDecoder against exhaustive search over every label sequence."""

import itertools
import math

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


def joint_objective(section, label, start, table, classes, labels, starts, penalty, weight):
    """JointDecoder's documented objective for one song (log-probs, start logits, P(y|c))."""
    log_s = torch.nn.functional.logsigmoid(start).tolist()
    log_not = torch.nn.functional.logsigmoid(-start).tolist()
    total = 0.0
    for t, (c, y) in enumerate(zip(classes, labels, strict=True)):
        p = table[c][y]
        total += section[t][c] + weight * label[t][y] + (math.log(p) if p > 0 else -math.inf)
        if t:
            total += log_s[t] - penalty if starts[t] else log_not[t]
    return total


def joint_brute_force(args, n, n_classes, penalty, weight):
    """Best objective over every class, label and start sequence of a song of ``n`` lines."""
    best = -math.inf
    for classes in itertools.product(range(n_classes), repeat=n):
        for labels in itertools.product(range(2), repeat=n):
            forced = [True] + [
                (classes[t], labels[t]) != (classes[t - 1], labels[t - 1]) for t in range(1, n)
            ]
            free = [t for t in range(1, n) if not forced[t]]
            for flags in itertools.product([False, True], repeat=len(free)):
                starts = list(forced)
                for t, f in zip(free, flags, strict=True):
                    starts[t] = f
                score = joint_objective(*args, classes, labels, starts, penalty, weight)
                best = max(best, score)
    return best


def joint_case(seed, n_classes=3, batch=3, width=4):
    gen = torch.Generator().manual_seed(seed)
    heads = {
        "section": torch.randn(batch, width, n_classes, generator=gen) * 2,
        "label": torch.randn(batch, width, 2, generator=gen) * 2,
        "start": torch.randn(batch, width, generator=gen) * 2,
    }
    lengths = torch.tensor([width, 3, 1])
    mask = torch.arange(width)[None] < lengths[:, None]
    return heads, mask, lengths


def hard_table(n_classes, chorus):
    """The table of a format-3 model: the label is 1 exactly on the chorus classes."""
    return [[0.0, 1.0] if c in chorus else [1.0, 0.0] for c in range(n_classes)]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("penalty", [0.0, 2.0])
def test_joint_decoder_matches_exhaustive_search(seed, penalty):
    """Two conventions in one batch, each decoded with its own label-given-class table."""
    from lyricseg.models.components import JointDecoder

    heads, mask, lengths = joint_case(seed)
    gen = torch.Generator().manual_seed(100 + seed)
    soft = (torch.rand(3, 2, generator=gen) + 0.05).tolist()
    soft = [[a / (a + b), b / (a + b)] for a, b in soft]
    tables = [soft, hard_table(3, [1])]
    heads["convention"] = torch.tensor([0, 1, 0])
    weight = 0.8
    decoder = JointDecoder(switch_penalty=penalty, label_weight=weight, label_given_class=tables)
    out = decoder.decode(heads, mask)
    section = torch.log_softmax(heads["section"], -1)
    label = torch.log_softmax(heads["label"], -1)
    for b, n in enumerate(lengths.tolist()):
        table = tables[int(heads["convention"][b])]
        args = (section[b, :n].tolist(), label[b, :n].tolist(), heads["start"][b, :n], table)
        best = joint_brute_force(args, n, 3, penalty, weight)
        got_classes = out["classes"][b, :n].tolist()
        got_labels = out["labels"][b, :n].tolist()
        got_starts = out["starts"][b, :n].tolist()
        got = joint_objective(*args, got_classes, got_labels, got_starts, penalty, weight)
        assert got == pytest.approx(best, abs=1e-4)
        # consistent by construction: a change of class or label starts a section
        assert got_starts[0] == 1
        pairs = list(zip(got_classes, got_labels, strict=True))
        assert all(got_starts[t] for t in range(1, n) if pairs[t] != pairs[t - 1])
        if table is tables[1]:  # the hard table: labels follow the class
            assert got_labels == [int(c == 1) for c in got_classes]
        assert out["labels"][b, n:].eq(0).all() and out["starts"][b, n:].eq(0).all()


def test_joint_decoder_labels_come_from_the_conventions_head():
    """A flat table (a convention without sections): the label is no function of the class."""
    from lyricseg.models.components import JointDecoder

    width = 6
    heads = {  # one confident section class throughout, no start anywhere but line 0
        "section": torch.tensor([12.0, 0.0, 0.0]).expand(2, width, 3).clone(),
        "start": torch.full((2, width), -8.0),
        # the label head: chorus on every line, very sure
        "label": torch.tensor([-4.0, 4.0]).expand(2, width, 2).clone(),
        "convention": torch.tensor([0, 1]),
    }
    flat = [[0.5, 0.5]] * 3
    decoder = JointDecoder(label_given_class=[flat, hard_table(3, [1])])
    out = decoder.decode(heads, torch.ones(2, width, dtype=torch.bool))
    assert out["classes"].eq(0).all()
    assert out["labels"][0].tolist() == [1] * width  # its own head: chorus
    assert out["labels"][1].tolist() == [0] * width  # class 0 is never chorus there


def test_joint_decoder_without_section_heads_is_viterbi():
    from lyricseg.models.components import JointDecoder

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 2, generator=gen)
    mask = torch.ones(2, 6, dtype=torch.bool)
    joint = JointDecoder(switch_penalty=1.0, label_given_class=[hard_table(5, [3, 4])])
    expected = ViterbiDecoder(1.0)(logits, mask)
    assert torch.equal(joint.decode({"label": logits}, mask)["labels"], expected)
    assert torch.equal(joint(logits, mask), expected)
