"""Load check of the HTTP service: concurrent ``POST /v1/segment`` of a 60-line song (the
``load`` part of ``python -m benchmarks.run``: ``--ckpt``, ``--load-n``, ``--concurrency``).

Starts ``python -m lyricseg.serve`` on a free loopback port with the given checkpoint, sends
a few warm-up requests, then, for each number of clients in ``concurrency``, ``n`` requests
from that many clients (keep-alive connections) to the same server, and reports errors,
latency percentiles, songs per second, and the CPU time the server (its worker processes
included) spent per song. Latency and songs per second depend on what else runs on the
machine, so the load average at the start and end of each level is recorded too; CPU time per
song depends much less on it. Every loop is bounded by ``n`` and by ``max_seconds``; the
server is stopped at the end. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import queue
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("benchmarks.load")

#: The line the server logs once it answers (with the real port when asked for port 0).
_LISTENING = re.compile(r"Listening on http://([\d.]+):(\d+)")

_WORDS = {
    "subject": ["the river", "my shadow", "a stranger", "the city", "your letter", "the engine"],
    "verb": ["carries", "remembers", "follows", "paints", "forgets", "whispers to"],
    "object": ["the morning", "a paper boat", "the northern line", "an open door", "the rain"],
    "place": ["down the hill", "past the station", "under neon", "across the field", "at dawn"],
}


def invented_song(n_lines: int = 60, seed: int = 0) -> str:
    """Invented lyrics: 8-line verses and a returning 4-line chorus, stanzas split by blanks."""
    rng = random.Random(seed)

    def line() -> str:
        return " ".join(rng.choice(_WORDS[k]) for k in ("subject", "verb", "object", "place"))

    chorus = [line() for _ in range(4)]
    out: list[str] = []
    verse = True
    while len(out) - out.count("") < n_lines:
        stanza = [line() for _ in range(8)] if verse else chorus
        out += [*stanza[: n_lines - (len(out) - out.count(""))], ""]
        verse = not verse
    return "\n".join(out).strip()


class Server(NamedTuple):
    """A running server: its base URL (``http://127.0.0.1:PORT``) and process id."""

    url: str
    pid: int


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and all its descendants.

    Read from Linux's ``/proc``; descendants that already exited count once waited for.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    used: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        used[int(entry.name)] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += used.get(current, 0)
        todo += children.get(current, [])
    return total / ticks


@contextlib.contextmanager
def start_server(ckpt: str | Path, *overrides: str, timeout: float = 180.0) -> Iterator[Server]:
    """Run ``python -m lyricseg.serve`` on a free loopback port until the block ends.

    Args:
        ckpt: The checkpoint to serve.
        overrides: Further Hydra overrides (``max_songs=4``).
        timeout: Seconds to wait for the server to listen.

    Yields:
        The server's base URL and process id.

    Raises:
        RuntimeError: When the server exits or does not listen in time (with its log tail).
    """
    with tempfile.TemporaryDirectory(prefix="lyricseg-serve-") as run_dir:
        cmd = [
            sys.executable,
            "-m",
            "lyricseg.serve",
            f"ckpt={ckpt}",
            "host=127.0.0.1",
            "port=0",
            "access_log=false",
            f"hydra.run.dir={run_dir}",
            *overrides,
        ]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        lines: queue.Queue[str | None] = queue.Queue()
        tail: list[str] = []

        def drain() -> None:  # keeps the pipe from filling while the server runs
            assert proc.stderr is not None
            for text in proc.stderr:
                lines.put(text)
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        try:
            url = None
            deadline = time.monotonic() + timeout
            while url is None:
                try:
                    text = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    text = None
                if text is None:
                    raise RuntimeError(
                        "the server did not start:\n"
                        + "".join(tail[-20:])
                        + f"(exit {proc.poll()})"
                    )
                tail.append(text)
                match = _LISTENING.search(text)
                if match:
                    url = f"http://{match[1]}:{match[2]}"
            yield Server(url, proc.pid)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _connect(host: str, port: int) -> http.client.HTTPConnection:
    """A keep-alive connection with Nagle's algorithm off, as browsers and curl have it
    (http.client sends headers and body in two writes, which would otherwise wait for the
    server's delayed ACK)."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", "/v1/segment", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def measure(
    url: str, body: bytes, n: int, concurrency: int, max_seconds: float = 300.0
) -> dict[str, Any]:
    """Send up to ``n`` POSTs of ``body`` from ``concurrency`` keep-alive clients.

    Returns:
        ``requests`` (sent), ``errors`` (non-200 answers and failed connections, with
        ``error_samples``), ``concurrency``, ``p50_ms``, ``p95_ms``, ``max_ms`` (latency of
        successful requests), ``songs_per_s`` (successful requests per wall second),
        ``wall_s``.
    """
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + max_seconds
    counter = iter(range(n))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def client() -> None:
        conn = _connect(host, int(port))
        try:
            while time.monotonic() < deadline:
                with lock:
                    if next(counter, None) is None:
                        return
                started = time.perf_counter()
                try:
                    status, answer = _post(conn, body)
                except (OSError, http.client.HTTPException) as err:
                    conn.close()
                    conn = _connect(host, int(port))
                    status, answer = -1, repr(err).encode()
                elapsed = time.perf_counter() - started
                with lock:
                    if status == 200:
                        latencies.append(elapsed)
                    else:
                        errors.append(f"{status}: {answer[:200]!r}")
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ms = sorted(1000 * x for x in latencies)
    return {
        "requests": len(ms) + len(errors),
        "errors": len(errors),
        "error_samples": errors[:5],
        "concurrency": concurrency,
        "p50_ms": statistics.median(ms) if ms else None,
        "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))] if ms else None,
        "max_ms": ms[-1] if ms else None,
        "songs_per_s": len(ms) / wall if wall > 0 else 0.0,
        "wall_s": wall,
    }


def run_load(
    ckpt: str | Path,
    n: int = 500,
    levels: Sequence[int] = (1, 8),
    *,
    lines: int = 60,
    max_seconds: float = 300.0,
    warmup: int = 10,
    overrides: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Serve ``ckpt`` locally and load it at each number of clients in ``levels`` in turn.

    One server answers every level (after ``warmup`` requests); ``overrides`` go to its
    command line (``workers=1``). Each row holds :func:`measure`'s keys and ``lines`` (per
    song), ``checked`` (whether a warm-up answer had one label and one probability per
    line), ``server_cpu_s`` (CPU time of the server and its workers during the row's
    requests), ``cpu_ms_per_song`` (that per successful request), ``cores``, ``settings``
    (the overrides) and ``load_avg_start``/``load_avg`` (the machine's 1-minute load average
    before and after the row's requests, other processes included).
    """
    body = json.dumps({"id": "load", "lyrics": invented_song(lines)}).encode()
    rows = []
    with start_server(ckpt, *overrides) as server:
        host, port = server.url.removeprefix("http://").split(":")
        conn = _connect(host, int(port))
        answers = [_post(conn, body) for _ in range(warmup)]
        conn.close()
        status, answer = answers[-1]
        record = json.loads(answer) if status == 200 else {}
        checked = len(record.get("labels", [])) == len(record.get("probs", [])) == lines
        for concurrency in levels:
            log.info("%d requests from %d clients ...", n, concurrency)
            load_start, cpu_start = os.getloadavg()[0], cpu_seconds(server.pid)
            result = measure(server.url, body, n, concurrency, max_seconds)
            cpu = cpu_seconds(server.pid) - cpu_start
            done = result["requests"] - result["errors"]
            rows.append(
                {
                    **result,
                    "lines": lines,
                    "checked": checked,
                    "server_cpu_s": cpu,
                    "cpu_ms_per_song": 1000 * cpu / done if done else None,
                    "cores": os.cpu_count(),
                    "settings": list(overrides),
                    "load_avg_start": load_start,
                    "load_avg": os.getloadavg()[0],
                }
            )
    return rows
