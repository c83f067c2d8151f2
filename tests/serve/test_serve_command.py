"""``python -m lyricseg.serve`` as a person starts it, and the load check that drives it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from support import REPO

from benchmarks.load import cpu_seconds, invented_song, start_server


def refused_start(*overrides: str) -> subprocess.CompletedProcess:
    """``python -m lyricseg.serve`` with ``overrides``, which must refuse to start (exit 2)."""
    result = subprocess.run(
        [sys.executable, "-m", "lyricseg.serve", *overrides],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    return result


def test_serve_command_answers_until_stopped(tiny_checkpoint):
    with start_server(tiny_checkpoint, "max_songs=2", "max_lines=50") as (url, _):
        assert url.startswith("http://127.0.0.1:")
        info = httpx.get(f"{url}/healthz", timeout=30).json()
        assert info["checkpoint"] == tiny_checkpoint.name
        assert info["limits"]["max_songs"] == 2 and info["limits"]["max_lines"] == 50
        record = httpx.post(f"{url}/v1/segment", json={"lyrics": "a\nb"}, timeout=30).json()
        assert record["lines"] == ["a", "b"] and len(record["probs"]) == 2
        too_many = httpx.post(f"{url}/v1/segment", json=[{"lyrics": "a"}] * 3, timeout=30)
        assert too_many.status_code == 422
    with pytest.raises(httpx.TransportError):  # stopped with the block
        httpx.get(f"{url}/healthz", timeout=2)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("ckpt={tmp}/missing.ckpt", "error: checkpoint not found: {tmp}/missing.ckpt"),
        ("port=http", "error: port must be a number from 0 to 65535, got 'http'"),
        ("max_lines=0", "error: max_lines must be a positive integer, got 0"),
        (
            "convention=genius",
            "error: convention='genius' is not one of this model's verse/chorus conventions: "
            "lyrics",
        ),
    ],
)
def test_serve_command_reports_bad_settings_in_one_line(
    tiny_checkpoint, tmp_path, override, message
):
    result = refused_start(f"ckpt={tiny_checkpoint}", "port=0", override.format(tmp=tmp_path))
    assert message.format(tmp=tmp_path) in result.stderr.splitlines()


def test_invented_song_has_the_asked_lines_and_stanzas():
    song = invented_song(60)
    lines = song.splitlines()
    assert sum(1 for x in lines if x) == 60 and "" in lines
    assert lines[0] and lines[-1]  # no leading or trailing blank line
    assert invented_song(60) == song != invented_song(60, seed=1)


def test_cpu_seconds_count_a_live_grandchild():
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    grandchild = burn + "time.sleep(60)"
    child = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}])\n"
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", child], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while cpu_seconds(proc.pid) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cpu_seconds(proc.pid) >= 0.3  # the grandchild's time, while it still runs
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_taken_port_is_one_line_before_the_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # a missing model: had it been loaded first, this would be the error
        result = refused_start(f"ckpt={tmp_path}/missing.ckpt", f"port={port}")
    message = (
        f"error: port {port} on 127.0.0.1 is already in use (another server?); "
        "choose another with port=N"
    )
    assert result.stderr.splitlines() == [message]


def test_open_connections_are_bounded(tiny_checkpoint):
    body = json.dumps({"lyrics": "a\nb"}).encode()
    headers = {"Content-Type": "application/json"}
    with start_server(tiny_checkpoint, "max_connections=2", "workers=1") as (url, _):
        address = url.removeprefix("http://").split(":")
        conns = [http.client.HTTPConnection(address[0], int(address[1]), timeout=30)]
        conns.append(http.client.HTTPConnection(address[0], int(address[1]), timeout=30))

        def status(conn: http.client.HTTPConnection) -> int:
            conn.request("POST", "/v1/segment", body, headers)
            response = conn.getresponse()
            response.read()
            return response.status

        try:
            assert [status(c) for c in conns] == [200, 200]  # two open keep-alive connections
            conns.append(http.client.HTTPConnection(address[0], int(address[1]), timeout=30))
            assert status(conns[2]) == 503  # a third is one too many
            conns.pop(0).close()
            conns.pop(0).close()
            deadline = time.monotonic() + 10
            while (answer := status(conns[0])) == 503 and time.monotonic() < deadline:
                time.sleep(0.1)  # the server notices the closed connections
            assert answer == 200
        finally:
            for conn in conns:
                conn.close()


def test_help_describes_the_services_own_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lyricseg.serve", "max_request_lines=900", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for setting in (
        "max_body_bytes=1048576",
        "body_timeout_s=10",
        "max_request_lines=900",  # current values, overrides included
        "max_connections=64",
        "keep_alive_s=5",
        "workers=2",
        "torch_threads=1",
        "batch_wait_ms=2",
    ):
        assert f"\n  {setting}\n" in text, setting
    assert "Content-Type: application/json" in text and "[::1]" in text
    assert "loss:" not in text and "experiment:" not in text  # no training groups
