import random

import pytest
import torch


def _random_song(rng: random.Random) -> tuple[list[int], list[int], list[float]]:
    n = rng.choice([1, 2, 2, 3, rng.randint(1, 12), rng.randint(4, 45)])
    target: list[int] = []
    label = rng.randint(0, 1)
    while len(target) < n:
        target += [label] * rng.randint(1, 8)
        label = 1 - label if rng.random() < 0.9 else label
    target = target[:n]
    style = rng.random()
    if style < 0.15:
        pred = list(target)
    elif style < 0.3:
        pred = [rng.randint(0, 1)] * n
    elif style < 0.5:
        shift = rng.choice([-2, -1, 1, 2])
        pred = [target[min(max(i - shift, 0), n - 1)] for i in range(n)]
    else:
        pred = [1 - t if rng.random() < 0.2 else t for t in target]
    probs = []
    for p in pred:
        q = rng.uniform(0.5, 1.0) if rng.random() < 0.8 else rng.uniform(0.97, 0.9999)
        probs.append(q if p == 1 else 1 - q)
    return pred, target, probs


def random_corpus(seed: int, n_songs: int):
    rng = random.Random(seed)
    songs = [_random_song(rng) for _ in range(n_songs)]
    return [s[0] for s in songs], [s[1] for s in songs], [s[2] for s in songs]


def pad_batch(preds, targets, probs):
    width = max(len(p) for p in preds) + 2  # extra padding columns on purpose
    b = len(preds)
    p = torch.randint(0, 2, (b, width))  # padding value must not matter
    t = torch.randint(0, 2, (b, width))
    q = torch.rand(b, width)
    m = torch.zeros(b, width, dtype=torch.bool)
    for i in range(b):
        n = len(preds[i])
        p[i, :n] = torch.tensor(preds[i], dtype=torch.long)
        t[i, :n] = torch.tensor(targets[i], dtype=torch.long)
        q[i, :n] = torch.tensor(probs[i], dtype=torch.float32)
        m[i, :n] = True
    return p, t, m, q


@pytest.fixture
def corpus():
    return random_corpus


@pytest.fixture
def batch():
    return pad_batch
