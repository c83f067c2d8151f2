"""The decoders' section-length prior against exhaustive search over every decoding."""

import itertools

import pytest
import torch

from lyricseg.models.components import JointDecoder, ViterbiDecoder


def section_lengths(starts):
    """Lengths of the sections that start flags (``starts[0]`` true) cut a song into."""
    cuts = [t for t, s in enumerate(starts) if s] + [len(starts)]
    return [b - a for a, b in itertools.pairwise(cuts)]


def short_cost(starts, min_lines, penalty):
    return penalty * sum(n < min_lines for n in section_lengths(starts))


def viterbi_objective(log_probs, labels, switch, min_lines, penalty):
    """sum_t log p_t(y_t) - switch * #changes - penalty * #runs shorter than min_lines."""
    starts = [True] + [a != b for a, b in itertools.pairwise(labels)]
    total = sum(float(log_probs[t, y]) for t, y in enumerate(labels))
    return total - switch * (sum(starts) - 1) - short_cost(starts, min_lines, penalty)


def joint_objective(section, label, start, classes, starts, chorus, switch, weight, prior):
    log_s = torch.nn.functional.logsigmoid(start)
    log_not = torch.nn.functional.logsigmoid(-start)
    total = 0.0
    for t, c in enumerate(classes):
        total += float(section[t, c]) + weight * float(label[t, int(c in chorus)])
        if t:
            total += float(log_s[t]) - switch if starts[t] else float(log_not[t])
    return total - short_cost(starts, *prior)


def joint_decodings(n, n_classes):
    """Every (classes, starts) pair: a class change is a start, other lines may start."""
    for classes in itertools.product(range(n_classes), repeat=n):
        forced = [True] + [classes[t] != classes[t - 1] for t in range(1, n)]
        free = [t for t in range(1, n) if not forced[t]]
        for flags in itertools.product([False, True], repeat=len(free)):
            starts = list(forced)
            for t, f in zip(free, flags, strict=True):
                starts[t] = f
            yield classes, starts


def hard_table(n_classes, chorus):
    """One convention whose label is 1 exactly on the ``chorus`` classes, ``[1][S][2]``."""
    return [[[0.0, 1.0] if c in chorus else [1.0, 0.0] for c in range(n_classes)]]


def padded_batch(gen, batch, width, classes, scale=2.0):
    logits = torch.randn(batch, width, classes, generator=gen) * scale
    lengths = torch.randint(1, width + 1, (batch,), generator=gen)
    lengths[0] = width
    mask = torch.arange(width)[None] < lengths[:, None]
    return torch.where(mask[..., None], logits, torch.randn_like(logits) * 50), mask, lengths


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("min_lines", [2, 3, 4])
@pytest.mark.parametrize("seed", range(5))
def test_viterbi_prior_matches_exhaustive_search(seed, min_lines, classes):
    gen = torch.Generator().manual_seed(seed)
    width = 3 + seed  # 3 .. 7 lines
    logits, mask, lengths = padded_batch(gen, 4, width, classes)
    for switch, penalty in [(0.0, 1.5), (0.5, 0.7), (1.0, 4.0), (0.2, 1e4)]:
        decoded = ViterbiDecoder(switch, min_lines, penalty)(logits, mask)
        log_probs = torch.log_softmax(logits.double(), dim=-1)
        for b, n in enumerate(lengths.tolist()):
            args = (switch, min_lines, penalty)
            best = max(
                viterbi_objective(log_probs[b, :n], seq, *args)
                for seq in itertools.product(range(classes), repeat=n)
            )
            got = viterbi_objective(log_probs[b, :n], decoded[b, :n].tolist(), *args)
            assert got == pytest.approx(best, abs=1e-3), (switch, penalty, b)


@pytest.mark.parametrize("min_lines", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_joint_prior_matches_exhaustive_search(seed, min_lines):
    gen = torch.Generator().manual_seed(100 + seed)
    n_classes, chorus, weight, width = 3, [1], 0.8, 5
    heads = {
        "section": torch.randn(3, width, n_classes, generator=gen) * 2,
        "label": torch.randn(3, width, 2, generator=gen) * 2,
        "start": torch.randn(3, width, generator=gen) * 2,
    }
    lengths = torch.tensor([width, 4, 2])
    mask = torch.arange(width)[None] < lengths[:, None]
    section = torch.log_softmax(heads["section"], -1)
    label = torch.log_softmax(heads["label"], -1)
    for switch, penalty in [(0.0, 2.0), (0.7, 0.5), (0.3, 1e4)]:
        decoder = JointDecoder(switch, weight, hard_table(n_classes, chorus), min_lines, penalty)
        out = decoder.decode(heads, mask)
        for b, n in enumerate(lengths.tolist()):
            args = (section[b, :n], label[b, :n], heads["start"][b, :n])
            rest = (chorus, switch, weight, (min_lines, penalty))
            decodings = joint_decodings(n, n_classes)
            best = max(joint_objective(*args, c, s, *rest) for c, s in decodings)
            got_c, got_s = out["classes"][b, :n].tolist(), out["starts"][b, :n].tolist()
            assert joint_objective(*args, got_c, got_s, *rest) == pytest.approx(best, abs=1e-3)
            assert got_s[0] == 1
            assert all(got_s[t] for t in range(1, n) if got_c[t] != got_c[t - 1])
            assert out["labels"][b, :n].tolist() == [int(c in chorus) for c in got_c]
            assert out["starts"][b, n:].eq(0).all()


def test_a_hard_prior_leaves_no_short_section_and_off_changes_nothing():
    gen = torch.Generator().manual_seed(3)
    heads = {
        "section": torch.randn(4, 12, 4, generator=gen) * 3,
        "label": torch.randn(4, 12, 2, generator=gen) * 3,
        "start": torch.randn(4, 12, generator=gen) * 3,
    }
    mask = torch.ones(4, 12, dtype=torch.bool)
    table = hard_table(4, [1])
    plain = JointDecoder(0.5, 1.0, table).decode(heads, mask)
    off = JointDecoder(0.5, 1.0, table, min_section_lines=1, short_section_penalty=50.0)
    assert all(torch.equal(plain[k], v) for k, v in off.decode(heads, mask).items())
    hard = JointDecoder(0.5, 1.0, table, min_section_lines=4, short_section_penalty=1e4)
    out = hard.decode(heads, mask)
    for starts in out["starts"].tolist():
        assert min(section_lengths(starts)) >= 4
    assert out["starts"].sum() < plain["starts"].sum()  # fewer sections than without it
    viterbi = ViterbiDecoder(0.0, 3, 1e4)(heads["label"], mask)
    for labels in viterbi.tolist():
        starts = [True] + [a != b for a, b in itertools.pairwise(labels)]
        assert min(section_lengths(starts)) >= 3


def test_the_prior_composes_from_the_decoder_config_and_is_checked_like_a_checkpoint(make_cfg):
    from hydra.utils import instantiate

    from lyricseg.checkpoint import CheckpointError, check_config

    cfg = make_cfg(
        "experiment=lyrics_best",
        "decoder.min_section_lines=3",
        "decoder.short_section_penalty=2.0",
    )
    decoder = {**cfg.decoder, "label_given_class": hard_table(8, [1])}
    check_config(decoder, "decoder", "the configured model")  # as training checks it
    built = instantiate(decoder)
    assert isinstance(built, JointDecoder)
    assert (built.min_section_lines, built.short_section_penalty) == (3, 2.0)
    assert (built.fallback.min_section_lines, built.fallback.short_section_penalty) == (3, 2.0)
    default = make_cfg("decoder=viterbi").decoder
    assert (default.min_section_lines, default.short_section_penalty) == (1, 0.0)  # off
    for key, value in [("min_section_lines", 1000), ("short_section_penalty", -1.0)]:
        with pytest.raises(CheckpointError, match=key):
            check_config({**decoder, key: value}, "decoder", "the configured model")
