import math
import random

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from nltk.metrics.segmentation import pk, windowdiff
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from support import free_port
from torchmetrics.utilities.data import dim_zero_sum

from lyricseg.metrics.functional.sections import (
    _section_border_compute,
    _section_border_update,
    _section_class_compute,
    _section_class_update,
    _section_window_compute,
    _section_window_update,
)
from lyricseg.metrics.sections import (
    SectionClassMetrics,
    build_section_metric_collection,
    evaluate_sections,
    section_metric_keys,
)
from lyricseg.sections import default_section_map
from lyricseg.utils import LyricsegError

SECTION_CLASSES = default_section_map().classes
SECTION_METRIC_KEYS = section_metric_keys(SECTION_CLASSES)
C = len(SECTION_CLASSES)
F1_KEYS = [f"section_f1_{name.replace('-', '_')}" for name in SECTION_CLASSES]


# ---------------------------------------------------------------- random songs and batches


def random_song(rng: random.Random):
    """Gold sections of random classes (some unknown, -1) and a perturbed prediction."""
    gold_class, gold_start = [], []
    for _ in range(rng.choice([1, 1, 2, rng.randint(2, 8)])):
        cls = rng.randrange(C) if rng.random() > 0.12 else -1
        length = rng.randint(1, 6)
        gold_class += [cls] * length
        gold_start += [1] + [0] * (length - 1)
    n = len(gold_class)
    style = rng.random()
    if style < 0.15:
        pred_class = [c if c >= 0 else rng.randrange(C) for c in gold_class]
        pred_start = list(gold_start)
    else:
        pred_class = [c if c >= 0 and rng.random() < 0.7 else rng.randrange(C) for c in gold_class]
        pred_start = [0] * n
        for i, s in enumerate(gold_start):
            if s and rng.random() < 0.8:
                j = min(max(i + rng.choice([0, 0, 0, -1, 1, 2]), 0), n - 1)
                pred_start[j] = 1
        for i in range(n):
            if rng.random() < 0.05:
                pred_start[i] = 1
    pred_start[0] = rng.randint(0, 1)  # line 0 is never a border either way
    return pred_class, gold_class, pred_start, gold_start


def random_corpus(seed: int, n_songs: int):
    rng = random.Random(seed)
    songs = [random_song(rng) for _ in range(n_songs)]
    return tuple([s[k] for s in songs] for k in range(4))


def pad(pred_class, gold_class, pred_start, gold_start):
    """Pad with garbage on purpose: values outside the mask must not matter."""
    b, width = len(pred_class), max(len(x) for x in pred_class) + 2
    p = torch.randint(0, 50, (b, width))
    t = torch.randint(-9, 50, (b, width))
    ps = torch.randint(0, 2, (b, width))
    ts = torch.randint(0, 2, (b, width)).bool()
    m = torch.zeros(b, width, dtype=torch.bool)
    for i in range(b):
        n = len(pred_class[i])
        p[i, :n] = torch.tensor(pred_class[i])
        t[i, :n] = torch.tensor(gold_class[i])
        ps[i, :n] = torch.tensor(pred_start[i])
        ts[i, :n] = torch.tensor(gold_start[i]).bool()
        m[i, :n] = True
    return {"pred_class": p, "target_class": t, "pred_start": ps, "target_start": ts, "mask": m}


def run_collection(corpus, batch_size=16, prefix=""):
    coll = build_section_metric_collection(prefix, classes=SECTION_CLASSES)
    n = len(corpus[0])
    for begin in range(0, n, batch_size):
        coll.update(**pad(*(x[begin : begin + batch_size] for x in corpus)))
    return coll, {k: v.item() for k, v in coll.compute().items()}


# ---------------------------------------------------------------- independent references


def borders(starts):
    return [i for i in range(1, len(starts)) if starts[i]]


def max_matching(gold, pred, tol):
    """Largest number of one-to-one (gold, pred) pairs at most ``tol`` apart, exhaustively."""
    if not gold:
        return 0
    first, rest = gold[0], gold[1:]
    best = max_matching(rest, pred, tol)
    for j, p in enumerate(pred):
        if abs(first - p) <= tol:
            best = max(best, 1 + max_matching(rest, pred[:j] + pred[j + 1 :], tol))
    return best


def reference_k(n, n_sections):
    return min(max(math.floor(n / n_sections / 2 + 0.5), 1), n - 1)


def reference_scores(pred_class, gold_class, pred_start, gold_start):
    pairs = [
        (t, p)
        for ts, ps in zip(gold_class, pred_class, strict=True)
        for t, p in zip(ts, ps, strict=True)
        if t >= 0
    ]
    y_true, y_pred = [t for t, _ in pairs], [p for _, p in pairs]
    out = {"section_accuracy": accuracy_score(y_true, y_pred)}
    out["section_macro_f1"] = f1_score(y_true, y_pred, average="macro", zero_division=0)
    per_class = f1_score(y_true, y_pred, labels=list(range(C)), average=None, zero_division=0)
    out.update(dict(zip(F1_KEYS, per_class, strict=True)))
    n_pred = n_true = exact = tol1 = 0
    wds, pks = [], []
    for ps, gs in zip(pred_start, gold_start, strict=True):
        bp, bt = borders(ps), borders(gs)
        n_pred, n_true = n_pred + len(bp), n_true + len(bt)
        exact += len(set(bp) & set(bt))
        tol1 += max_matching(bt, bp, 1)
        n = len(gs)
        if n >= 2:
            ref = "".join("1" if gs[i] else "0" for i in range(1, n))
            hyp = "".join("1" if ps[i] else "0" for i in range(1, n))
            k = reference_k(n, 1 + len(bt))
            wds.append(windowdiff(ref, hyp, k))
            pks.append(pk(ref, hyp, k, boundary="1"))
    out["section_border_precision"] = exact / n_pred if n_pred else 0.0
    out["section_border_recall"] = exact / n_true if n_true else 0.0
    out["section_border_f1"] = 2 * exact / (n_pred + n_true) if n_pred + n_true else 0.0
    out["section_border_f1_tol1"] = 2 * tol1 / (n_pred + n_true) if n_pred + n_true else 0.0
    out["section_window_diff"] = sum(wds) / len(wds) if wds else 0.0
    out["section_pk"] = sum(pks) / len(pks) if pks else 0.0
    return out, confusion_matrix(y_true, y_pred, labels=list(range(C)))


# ---------------------------------------------------------------- tests


def test_hand_computed_song():
    # gold: intro | verse x3 | chorus x2 | verse x2 | chorus x2  -> borders 1, 4, 6, 8
    # pred: intro | verse x4 (line 4 wrong) | chorus | verse x2 | chorus, post-chorus
    #       with starts at 1, 5, 6, 9
    gold_class = [[0, 1, 1, 1, 3, 3, 1, 1, 3, 3]]
    pred_class = [[0, 1, 1, 1, 1, 3, 1, 1, 3, 4]]
    gold_start = [[1, 1, 0, 0, 1, 0, 1, 0, 1, 0]]
    pred_start = [[1, 1, 0, 0, 0, 1, 1, 0, 0, 1]]
    out = evaluate_sections(pred_class, gold_class, pred_start, gold_start, classes=SECTION_CLASSES)
    # borders: exact {1, 6} of 4 each; within one line 4-5 and 8-9 pair up too
    assert out["section_border_precision"] == 0.5
    assert out["section_border_recall"] == 0.5
    assert out["section_border_f1"] == 0.5
    assert out["section_border_f1_tol1"] == 1.0
    # lines: intro 1/1; verse 5 gold, 6 predicted, 5 right; chorus 4 gold, 2 predicted, 2
    # right; post-chorus 0 gold, 1 predicted
    assert out["section_accuracy"] == pytest.approx(8 / 10)
    assert out["section_f1_intro"] == 1.0
    assert out["section_f1_verse"] == pytest.approx(10 / 11)
    assert out["section_f1_chorus"] == pytest.approx(2 / 3)
    assert out["section_f1_post_chorus"] == 0.0
    assert out["section_f1_bridge"] == 0.0  # absent everywhere: 0, and not in the macro
    assert out["section_macro_f1"] == pytest.approx((1 + 10 / 11 + 2 / 3 + 0) / 4)
    # 5 gold sections in 10 lines: k = 1; gaps 100101010 vs 100011001 differ 4 times of 9
    assert out["section_window_diff"] == pytest.approx(4 / 9)
    assert out["section_pk"] == pytest.approx(4 / 9)
    assert out["n_songs"] == 1 and out["n_lines"] == 10


def test_unknown_gold_lines_leave_class_scores_but_not_borders():
    gold_class = [[-1, -1, 1, 1]]
    pred_class = [[5, 5, 1, 1]]
    starts = [[1, 0, 1, 0]]
    out = evaluate_sections(pred_class, gold_class, starts, starts, classes=SECTION_CLASSES)
    assert out["section_accuracy"] == 1.0 and out["section_macro_f1"] == 1.0
    assert out["section_f1_bridge"] == 0.0  # the predicted bridge lines had no known gold
    assert out["section_border_f1"] == 1.0 and out["section_window_diff"] == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_matches_sklearn_brute_force_and_nltk(seed):
    corpus = random_corpus(seed, 70)
    coll, out = run_collection(corpus)
    expected, confmat = reference_scores(*corpus)
    assert set(out) == set(SECTION_METRIC_KEYS)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-12), key
    assert coll["section_class"].confusion_matrix().tolist() == confmat.tolist()


def test_functional_helpers_on_one_batch():
    corpus = random_corpus(42, 30)
    batch = pad(*corpus)
    args = (batch["pred_start"], batch["target_start"], batch["mask"])
    expected, confmat = reference_scores(*corpus)
    cm = _section_class_update(batch["pred_class"], batch["target_class"], batch["mask"], C)
    assert cm.tolist() == confmat.tolist()
    scores = {
        **_section_class_compute(cm, SECTION_CLASSES),
        **_section_border_compute(_section_border_update(*args, (1,)), (1,)),
        **_section_window_compute(_section_window_update(*args)),
    }
    for key, value in expected.items():
        assert scores[key].item() == pytest.approx(value, abs=1e-12), key


def test_keys_prefix_sum_states_and_batching():
    corpus = random_corpus(7, 50)
    coll, a = run_collection(corpus, batch_size=50, prefix="val/")
    assert sorted(a) == sorted(f"val/{k}" for k in SECTION_METRIC_KEYS)
    _, b = run_collection(corpus, batch_size=3, prefix="val/")
    for key in a:
        assert a[key] == pytest.approx(b[key], abs=1e-12), key
    for metric in coll.values():
        for name, reduce in metric._reductions.items():
            assert reduce is dim_zero_sum, (type(metric).__name__, name)


def test_perfect_prediction():
    pred_class, gold_class, _, gold_start = random_corpus(8, 40)
    known = [[c if c >= 0 else 7 for c in song] for song in gold_class]
    out = evaluate_sections(known, gold_class, gold_start, gold_start, classes=SECTION_CLASSES)
    for key in ["section_accuracy", "section_macro_f1", "section_border_f1"]:
        assert out[key] == 1.0, key
    assert out["section_border_f1_tol1"] == 1.0
    assert out["section_window_diff"] == 0.0 and out["section_pk"] == 0.0


def test_evaluate_sections_equals_the_collection_and_checks_lengths():
    corpus = random_corpus(9, 45)
    result = evaluate_sections(*corpus, batch_size=7, classes=SECTION_CLASSES)
    assert list(result) == [*SECTION_METRIC_KEYS, "n_songs", "n_lines"]
    _, out = run_collection(corpus)
    for key in SECTION_METRIC_KEYS:
        assert result[key] == pytest.approx(out[key], abs=1e-12), key
    assert result["n_songs"] == 45 and result["n_lines"] == sum(len(s) for s in corpus[0])
    with pytest.raises(LyricsegError, match="song 0"):
        evaluate_sections([[0, 1]], [[0, 1]], [[1, 0]], [[1]], classes=SECTION_CLASSES)
    with pytest.raises(LyricsegError, match="must match"):
        evaluate_sections([[0]], [], [[1]], [[1]], classes=SECTION_CLASSES)
    assert evaluate_sections([], [], [], [], classes=SECTION_CLASSES)["n_songs"] == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b["pred_class"].__setitem__((0, 0), C), "pred_class holds ids outside"),
        (lambda b: b["pred_class"].__setitem__((0, 0), -1), "pred_class holds ids outside"),
        (lambda b: b["target_class"].__setitem__((0, 0), -2), "target_class holds ids outside"),
        (lambda b: b.__setitem__("mask", b["mask"].long()), "mask must be bool"),
        (lambda b: b.__setitem__("target_start", b["target_start"][:, :-1]), "target"),
        (lambda b: b.__setitem__("pred_class", b["pred_class"].float()), "integer"),
    ],
)
def test_bad_inputs_are_clear_errors(change, message):
    batch = pad([[0, 1, 2]], [[0, 1, 2]], [[1, 1, 1]], [[1, 1, 1]])
    change(batch)
    with pytest.raises(LyricsegError, match=message):
        build_section_metric_collection(classes=SECTION_CLASSES).update(**batch)


def _ddp_worker(rank, world_size, port, shards, result_path):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        coll = build_section_metric_collection("val/", classes=SECTION_CLASSES)
        for batch in shards[rank]:
            coll.update(**batch)
        out = {k: v.item() for k, v in coll.compute().items()}
        confmat = coll["section_class"].confusion_matrix()  # collective: every rank calls it
        local = coll["section_class"].confmat.clone()  # local counts stay after the sync
        if rank == 0:
            torch.save({"scores": out, "confmat": confmat, "local": local}, result_path)
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_two_process_sync_equals_single_process(tmp_path):
    corpus = random_corpus(11, 48)
    cuts = [(0, 10), (10, 30), (30, 33), (33, 48)]  # uneven shards, different paddings
    batches = [pad(*(x[a:b] for x in corpus)) for a, b in cuts]
    shards = [batches[:2], batches[2:]]
    result_path = tmp_path / "rank0.pt"
    mp.spawn(_ddp_worker, args=(2, free_port(), shards, str(result_path)), nprocs=2, join=True)
    distributed = torch.load(result_path)
    single = build_section_metric_collection("val/", classes=SECTION_CLASSES)
    for batch in batches:
        single.update(**batch)
    expected = {k: v.item() for k, v in single.compute().items()}
    assert distributed["scores"].keys() == expected.keys()
    for key, value in expected.items():
        assert distributed["scores"][key] == pytest.approx(value, abs=1e-12), key
    full = single["section_class"].confusion_matrix()
    assert torch.equal(distributed["confmat"], full)
    rank0_only = SectionClassMetrics(classes=SECTION_CLASSES)
    for batch in shards[0]:
        rank0_only.update(**batch)
    assert torch.equal(distributed["local"], rank0_only.confmat)
