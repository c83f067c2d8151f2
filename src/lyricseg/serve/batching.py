"""Micro-batching: the songs of concurrent requests tagged together by a few model workers.

Requests put their songs in a queue and wait. Each worker takes a batch — songs taken one
per request in turn, so that a request with many songs cannot hold the model while a small
one waits — up to ``max_songs`` songs and ``max_lines`` lines, after a short window that lets
concurrent requests join it, and tags it with :meth:`lyricseg.inference.Predictor.predict` (the
same call ``predict.py`` makes). With one worker the model runs in a thread of the server
process; with more, each worker is a process holding its own copy of the model, so that
featurization (Python and numpy, bound by the GIL) uses several cores. A batch that fails
fails every request with a song in it (requests are checked before they queue, so only a
fault of the model or the server gets here); worker processes that died are replaced.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import multiprocessing
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import torch

from lyricseg.data.songs import Song
from lyricseg.inference import Predictor, Segmentation
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)

#: What every worker tags once before the service answers (lazy imports, allocations).
WARM_UP = Song(id="warm-up", lines=("la la la", "la la la"))

_WORKER: tuple[Predictor, int] | None = None


def _init_worker(predictor: Predictor, batch_size: int, torch_threads: int | None) -> None:
    """Set up a worker process: its model, its torch threads, and a warm-up prediction."""
    global _WORKER
    if torch_threads:
        torch.set_num_threads(torch_threads)
    _WORKER = (predictor, batch_size)
    predictor.predict([WARM_UP], batch_size=batch_size)


def _predict_in_worker(songs: list[Song]) -> list[Segmentation]:
    assert _WORKER is not None, "worker not initialized"
    predictor, batch_size = _WORKER
    return predictor.predict(songs, batch_size=batch_size)


@dataclass
class _Request:
    """The songs of one request still waiting for a batch, and where their records go."""

    songs: list[Song]
    futures: list[asyncio.Future[Segmentation]]
    taken: int = field(default=0)


class Batcher:
    """Tags the songs of concurrent requests in shared batches.

    Args:
        predictor: The loaded model.
        batch_size: Songs per forward pass inside a batch.
        max_songs: Most songs in one batch.
        max_lines: Most lines in one batch (a longer song forms a batch of its own).
        wait_s: How long an idle worker waits for more songs before it starts a batch that
            is not full.
        workers: Batches tagged at the same time: 1 in a thread of this process, more in as
            many processes, each with a copy of the model.
        torch_threads: Threads torch may use in each worker process (None: torch's default).
    """

    def __init__(
        self,
        predictor: Predictor,
        *,
        batch_size: int,
        max_songs: int,
        max_lines: int,
        wait_s: float,
        workers: int,
        torch_threads: int | None = None,
    ) -> None:
        self.predictor = predictor
        self.batch_size = batch_size
        self.max_songs = max_songs
        self.max_lines = max_lines
        self.wait_s = wait_s
        self.workers = workers
        self.torch_threads = torch_threads
        self._queue: collections.deque[_Request] = collections.deque()
        self._ready: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._executor: concurrent.futures.Executor | None = None
        self._call: Callable[[list[Song]], list[Segmentation]] = self._predict_here

    def _predict_here(self, songs: list[Song]) -> list[Segmentation]:
        return self.predictor.predict(songs, batch_size=self.batch_size)

    async def start(self) -> None:
        """Start the workers and warm each one up (returns when all are ready)."""
        loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        if self.workers == 1:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, "lyricseg-model")
            await loop.run_in_executor(self._executor, self._call, [WARM_UP])
        else:
            self._executor = self._new_pool()
            self._call = _predict_in_worker
            # One call per worker starts them all (each warms itself up when it starts).
            calls = [
                loop.run_in_executor(self._executor, self._call, [WARM_UP])
                for _ in range(self.workers)
            ]
            await asyncio.gather(*calls)
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        # spawn, not fork: the server process runs threads (event loop, executors).
        return concurrent.futures.ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.predictor, self.batch_size, self.torch_threads),
        )

    async def close(self) -> None:
        """Stop the workers; requests still waiting fail."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        while self._queue:
            for future in self._queue.popleft().futures:
                if not future.done():
                    future.set_exception(RuntimeError("the service is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def predict(self, songs: list[Song]) -> list[Segmentation]:
        """The records of ``songs``, in order, once the batches holding them are tagged.

        Raises:
            LyricsegError: When the model refuses a song of the batch.
        """
        if not songs:
            return []
        assert self._ready is not None, "Batcher.start() was not awaited"
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in songs]
        self._queue.append(_Request(list(songs), futures))
        self._ready.set()
        return list(await asyncio.gather(*futures))

    def _queued_songs_fill_a_batch(self) -> bool:
        songs = lines = 0
        for request in self._queue:
            for song in request.songs[request.taken :]:
                songs, lines = songs + 1, lines + len(song)
                if songs >= self.max_songs or lines >= self.max_lines:
                    return True
        return False

    def _take(self) -> list[tuple[Song, asyncio.Future[Segmentation]]]:
        """The next batch: one song from each waiting request in turn, within the caps."""
        batch: list[tuple[Song, asyncio.Future[Segmentation]]] = []
        lines = 0
        while self._queue and len(batch) < self.max_songs:
            request = self._queue[0]
            song = request.songs[request.taken]
            if batch and lines + len(song) > self.max_lines:
                break
            batch.append((song, request.futures[request.taken]))
            lines += len(song)
            request.taken += 1
            self._queue.popleft()
            if request.taken < len(request.songs):
                self._queue.append(request)  # its next song comes after the others'
        return batch

    async def _work(self) -> None:
        """One worker's loop: wait for songs, take a batch, tag it, hand out the records."""
        assert self._ready is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._ready.wait()
            if self.wait_s > 0 and not self._queued_songs_fill_a_batch():
                await asyncio.sleep(self.wait_s)
            batch = self._take()
            if not self._queue:
                self._ready.clear()
            if not batch:
                continue
            songs = [song for song, _ in batch]
            executor = self._executor
            try:
                records = await loop.run_in_executor(executor, self._call, songs)
            except BaseException as err:  # handed to the requests of the batch
                for _, future in batch:
                    if not future.done():
                        future.set_exception(
                            err if isinstance(err, Exception) else RuntimeError("cancelled")
                        )
                if isinstance(err, BrokenProcessPool) and self._executor is executor:
                    log.error("A model worker process died (%s); starting new ones", err)
                    executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = self._new_pool()
                if not isinstance(err, Exception):
                    raise
                continue
            for (_, future), record in zip(batch, records, strict=True):
                if not future.done():
                    future.set_result(record)
