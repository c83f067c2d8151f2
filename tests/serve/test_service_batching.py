"""The micro-batcher: shared batches, caps, turns between requests, errors, worker processes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool

import httpx
import pytest
from _server import LIMITS, running

from lyricseg.data.songs import Song
from lyricseg.inference import Predictor
from lyricseg.serve import create_app
from lyricseg.serve.batching import Batcher
from lyricseg.utils.errors import LyricsegError


class _Recorder:
    """Stands for a Predictor: records each batch's song ids and answers after ``delay_s``."""

    def __init__(self, delay_s: float = 0.0, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.delay_s = delay_s
        self.fail_on = fail_on

    def predict(self, songs: list[Song], batch_size: int = 16) -> list[dict]:
        self.batches.append([song.id for song in songs])
        time.sleep(self.delay_s)
        if self.fail_on in self.batches[-1]:
            raise LyricsegError(f"cannot tag {self.fail_on}")
        return [{"id": song.id, "n": len(song)} for song in songs]


def _songs(prefix: str, count: int, lines: int = 2) -> list[Song]:
    return [
        Song(id=f"{prefix}{i}", lines=tuple(f"l{j}" for j in range(lines))) for i in range(count)
    ]


def _run(recorder: _Recorder, requests: list[list[Song]], **settings) -> list:
    """Start a batcher, send the requests at once, and return each one's records (or error)."""
    options = {"batch_size": 16, "max_songs": 4, "max_lines": 100, "wait_s": 0.01, "workers": 1}

    async def main() -> list:
        batcher = Batcher(recorder, **{**options, **settings})  # type: ignore[arg-type]
        await batcher.start()
        recorder.batches.clear()  # the warm-up
        try:
            tasks = [batcher.predict(songs) for songs in requests]
            return await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await batcher.close()

    return asyncio.run(main())


def test_concurrent_requests_share_a_batch_and_get_their_own_records():
    recorder = _Recorder()
    requests = [_songs(f"r{n}-", 1) for n in range(4)]
    answers = _run(recorder, requests)
    assert answers == [[{"id": f"r{n}-0", "n": 2}] for n in range(4)]
    assert recorder.batches == [["r0-0", "r1-0", "r2-0", "r3-0"]]


def test_a_large_request_takes_turns_with_a_small_one():
    recorder = _Recorder()
    big, small = _songs("big", 10), _songs("small", 1)
    answers = _run(recorder, [big, small], max_songs=3)
    assert [r["id"] for r in answers[0]] == [s.id for s in big]  # in order, all of them
    assert answers[1] == [{"id": "small0", "n": 2}]
    assert "small0" in recorder.batches[0]  # not behind the big request's four batches
    assert all(len(batch) <= 3 for batch in recorder.batches)


def test_a_batch_holds_at_most_max_lines_lines_unless_one_song_is_longer():
    recorder = _Recorder()
    requests = [_songs("a", 3, lines=40), _songs("long", 1, lines=150)]
    _run(recorder, requests, max_lines=100)
    for batch in recorder.batches:
        lines = sum(150 if name == "long0" else 40 for name in batch)
        assert lines <= 100 or batch == ["long0"]
    assert sorted(sum(recorder.batches, [])) == ["a0", "a1", "a2", "long0"]


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on():
    recorder = _Recorder(fail_on="bad0")
    answers = _run(recorder, [_songs("bad", 1), _songs("later", 1)], max_songs=1)
    assert isinstance(answers[0], LyricsegError)
    assert answers[1] == [{"id": "later0", "n": 2}]


def test_an_empty_request_needs_no_batch():
    recorder = _Recorder()
    assert _run(recorder, [[]]) == [[]]
    assert recorder.batches == []


class _Counting(Predictor):
    """The real model, counting its calls (the service's batches); its first batch waits
    until every client's song is queued (the service checks songs just before queueing)."""

    def __init__(self, *args, clients: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.checked = 0
        self.all_queued = threading.Event()
        self.clients = clients

    def check(self, songs):
        super().check(songs)  # predict() checks its batch too: count the clients' calls only
        self.checked += sum(song.id.startswith("client") for song in songs)
        if self.checked >= self.clients:
            self.all_queued.set()

    def predict(self, songs, **kwargs):
        if songs[0].id != "warm-up":
            self.calls += 1
            self.all_queued.wait(timeout=30)
        return super().predict(songs, **kwargs)


def test_concurrent_clients_are_tagged_in_fewer_forward_passes(tiny_checkpoint):
    loaded = Predictor.from_checkpoint(tiny_checkpoint)
    parts = (loaded.net, loaded.decoder, loaded.features, loaded.calibrator, loaded.record)
    model = _Counting(*parts, clients=8)
    app = create_app(model, checkpoint="m", **LIMITS)
    answers: list[int] = []
    with running(app) as url:

        def ask(n: int) -> None:
            lyrics = f"song {n}\nla la\nla la"
            body = {"id": f"client{n}", "lyrics": lyrics}
            response = httpx.post(f"{url}/v1/segment", json=body, timeout=60)
            answers.append(response.status_code)

        threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers == [200] * 8
    assert model.calls <= 2  # the songs queued while the first batch ran share one batch


@pytest.mark.slow  # starts two processes that import torch (the command tests use them too)
def test_worker_processes_answer_as_the_model_does(tiny_checkpoint):
    reference = Predictor.from_checkpoint(tiny_checkpoint)
    app = create_app(reference, checkpoint="m", **LIMITS, workers=2, torch_threads=1)
    songs = [{"id": f"s{n}", "lines": [f"line {n}", "oh oh", "oh oh", "end"]} for n in range(4)]
    with running(app) as url:
        records = httpx.post(f"{url}/v1/segment", json=songs, timeout=60).json()
    expected = reference.predict([Song(id=s["id"], lines=tuple(s["lines"])) for s in songs])
    for got, want in zip(records, (r.to_dict(spans=True) for r in expected), strict=True):
        assert {**got, "probs": None} == {**want, "probs": None}
        assert got["probs"] == pytest.approx(want["probs"], abs=1e-5)


class _Crashing(_Recorder):
    """Stands for a Predictor in a worker process; the process dies on a song named crash."""

    def predict(self, songs: list[Song], batch_size: int = 16) -> list[dict]:
        if any(song.id == "crash" for song in songs):
            os._exit(1)
        return super().predict(songs, batch_size)


@pytest.mark.slow  # starts worker processes, then new ones
def test_a_dead_worker_process_is_replaced():
    crash = [Song(id="crash", lines=("a",))]

    async def crash_then_ask() -> list:
        batcher = Batcher(
            _Crashing(), batch_size=4, max_songs=1, max_lines=100, wait_s=0, workers=2
        )
        await batcher.start()
        try:
            with pytest.raises(BrokenProcessPool):
                await batcher.predict(crash)
            return await batcher.predict(_songs("after", 1))
        finally:
            await batcher.close()

    assert asyncio.run(crash_then_ask()) == [{"id": "after0", "n": 2}]


class _DyingPool(concurrent.futures.ThreadPoolExecutor):
    """Stands for a pool of worker processes: one dies on a song named crash, which breaks
    the pool for good, as a real ``ProcessPoolExecutor`` is broken once a worker dies."""

    def __init__(self) -> None:
        super().__init__(1)
        self.broken = False

    def submit(self, fn, songs, /):  # the pool's function stands for the worker; unused
        if self.broken or any(song.id == "crash" for song in songs):
            self.broken = True
            failed: concurrent.futures.Future = concurrent.futures.Future()
            failed.set_exception(BrokenProcessPool("a worker died"))
            return failed
        return super().submit(lambda: [{"id": song.id, "n": len(song)} for song in songs])


def test_a_broken_worker_pool_is_replaced_and_the_next_request_is_answered():
    pools: list[_DyingPool] = []

    class _Batcher(Batcher):
        def _new_pool(self) -> _DyingPool:
            pools.append(_DyingPool())
            return pools[-1]

    async def crash_then_ask() -> list:
        batcher = _Batcher(
            _Recorder(), batch_size=4, max_songs=1, max_lines=100, wait_s=0, workers=2
        )
        await batcher.start()
        try:
            with pytest.raises(BrokenProcessPool):
                await batcher.predict([Song(id="crash", lines=("a",))])
            return await batcher.predict(_songs("after", 1))
        finally:
            await batcher.close()

    assert asyncio.run(crash_then_ask()) == [{"id": "after0", "n": 2}]
    assert len(pools) == 2 and pools[0].broken and not pools[1].broken
