import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from support import free_port
from torchmetrics.utilities.data import dim_zero_sum

from lyricseg.metrics import EVALUATE_KEYS, METRIC_KEYS, build_metric_collection, evaluate_songs
from lyricseg.utils import LyricsegError

EXPECTED_KEYS = [
    "accuracy", "macro_f1", "verse_f1", "chorus_f1", "boundary_precision", "boundary_recall",
    "boundary_f1", "boundary_f1_tol1", "boundary_f1_tol2", "window_diff", "pk",
    "complete_segments", "segment_iou", "transition_recall_v2c", "transition_recall_c2v",
    "ece", "mce", "conf_over_95", "conf_over_90", "pred_chorus_rate",
]  # fmt: skip


def run_collection(preds, targets, probs, batch, prefix="val/", batch_size=16):
    coll = build_metric_collection(prefix)
    for start in range(0, len(preds), batch_size):
        sl = slice(start, start + batch_size)
        p, t, m, q = batch(preds[sl], targets[sl], probs[sl])
        coll.update(preds=p, target=t, mask=m, probs=q)
    return coll, {k: v.item() for k, v in coll.compute().items()}


def test_keys_and_prefix(corpus, batch):
    preds, targets, probs = corpus(1, 20)
    coll, out = run_collection(preds, targets, probs, batch)
    assert sorted(out) == sorted(f"val/{k}" for k in EXPECTED_KEYS)
    assert sorted(METRIC_KEYS) == sorted(EXPECTED_KEYS)
    test_coll = coll.clone(prefix="test/")
    assert all(k.startswith("test/") for k in test_coll.compute())
    for metric in coll.values():
        for name, reduce in metric._reductions.items():
            assert reduce is dim_zero_sum, (type(metric).__name__, name)


def test_batching_does_not_change_scores(corpus, batch):
    preds, targets, probs = corpus(2, 64)
    _, a = run_collection(preds, targets, probs, batch, batch_size=64)
    _, b = run_collection(preds, targets, probs, batch, batch_size=5)
    for key in a:
        assert a[key] == pytest.approx(b[key], abs=1e-9), key


def test_perfect_predictions(corpus, batch):
    _, targets, _ = corpus(3, 30)
    probs = [[0.999 if x else 0.001 for x in t] for t in targets]
    _, out = run_collection(targets, targets, probs, batch, prefix="")
    for key in ["accuracy", "macro_f1", "boundary_f1", "boundary_f1_tol2", "complete_segments"]:
        assert out[key] == pytest.approx(1.0), key
    assert out["segment_iou"] == pytest.approx(1.0)
    assert out["window_diff"] == 0.0 and out["pk"] == 0.0


def test_evaluate_songs(corpus, batch):
    preds, targets, probs = corpus(4, 40)
    result = evaluate_songs(preds, targets, probs)
    assert list(result) == list(EVALUATE_KEYS)
    _, out = run_collection(preds, targets, probs, batch, prefix="")
    for key in EVALUATE_KEYS[:-2]:
        assert result[key] == pytest.approx(out[key], abs=1e-9), key
    assert result["n_songs"] == 40
    assert result["n_lines"] == sum(len(p) for p in preds)
    with pytest.raises(LyricsegError, match="song 0"):
        evaluate_songs([[0, 1]], [[0]], [[0.1, 0.9]])


def _ddp_worker(rank, world_size, port, shards, result_path):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        coll = build_metric_collection("val/")
        for p, t, m, q in shards[rank]:
            coll.update(preds=p, target=t, mask=m, probs=q)
        out = {k: v.item() for k, v in coll.compute().items()}
        if rank == 0:
            torch.save(out, result_path)
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_two_process_sync_equals_single_process(corpus, batch, tmp_path):
    preds, targets, probs = corpus(5, 48)
    # uneven shards with different padding widths on purpose
    cuts = [(0, 10), (10, 30), (30, 33), (33, 48)]
    batches = [batch(preds[a:b], targets[a:b], probs[a:b]) for a, b in cuts]
    shards = [batches[:2], batches[2:]]
    result_path = tmp_path / "rank0.pt"
    mp.spawn(_ddp_worker, args=(2, free_port(), shards, str(result_path)), nprocs=2, join=True)
    distributed = torch.load(result_path)
    single = build_metric_collection("val/")
    for p, t, m, q in batches:
        single.update(preds=p, target=t, mask=m, probs=q)
    expected = {k: v.item() for k, v in single.compute().items()}
    assert distributed.keys() == expected.keys()
    for key, value in expected.items():
        assert distributed[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(corpus, batch):
    preds, targets, probs = corpus(6, 40)
    p, t, m, q = batch(preds, targets, probs)
    cpu = build_metric_collection()
    cpu.update(preds=p, target=t, mask=m, probs=q)
    gpu = build_metric_collection().to("cuda")
    gpu.update(preds=p.cuda(), target=t.cuda(), mask=m.cuda(), probs=q.cuda())
    expected, got = cpu.compute(), gpu.compute()
    for key, value in expected.items():
        assert got[key].item() == pytest.approx(value.item(), abs=1e-6), key


def test_half_precision_probs_are_accepted(corpus, batch):
    preds, targets, probs = corpus(7, 20)
    p, t, m, q = batch(preds, targets, probs)
    full = build_metric_collection()
    full.update(preds=p, target=t, mask=m, probs=q)
    half = build_metric_collection()
    half.update(preds=p, target=t, mask=m, probs=q.bfloat16())
    assert half.compute()["ece"].item() == pytest.approx(full.compute()["ece"].item(), abs=0.02)


def test_evaluate_songs_does_not_import_torchmetrics():
    """predict.py scores labelled input without paying torchmetrics' start-up."""
    code = (
        "import sys; from lyricseg.metrics import evaluate_songs; "
        "print(evaluate_songs([[0, 1, 1]], [[0, 1, 0]], [[0.1, 0.8, 0.6]])['macro_f1']); "
        "print('torchmetrics' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [
        str(evaluate_songs([[0, 1, 1]], [[0, 1, 0]], [[0.1, 0.8, 0.6]])["macro_f1"]),
        "False",
    ]
