"""``python -m lyricseg.serve`` as a person starts it, and the load check that drives it."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from support import REPO

from benchmarks.load import invented_song, run_load, start_server


def test_serve_command_answers_until_stopped(tiny_checkpoint):
    with start_server(tiny_checkpoint, "max_songs=2", "max_lines=50") as url:
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
    ],
)
def test_serve_command_reports_bad_settings_in_one_line(
    tiny_checkpoint, tmp_path, override, message
):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lyricseg.serve",
            f"ckpt={tiny_checkpoint}",
            "port=0",
            override.format(tmp=tmp_path),
            f"hydra.run.dir={tmp_path}/run",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message.format(tmp=tmp_path) in result.stderr.splitlines()


def test_invented_song_has_the_asked_lines_and_stanzas():
    song = invented_song(60)
    lines = song.splitlines()
    assert sum(1 for x in lines if x) == 60 and "" in lines
    assert lines[0] and lines[-1]  # no leading or trailing blank line
    assert invented_song(60) == song != invented_song(60, seed=1)


def test_load_check_counts_every_request(tiny_checkpoint):
    result = run_load(tiny_checkpoint, n=24, concurrency=4, max_seconds=120, warmup=2)
    assert result["checked"] and result["lines"] == 60
    assert result["requests"] == 24 and result["errors"] == 0
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["max_ms"]
    assert result["songs_per_s"] > 0 and result["concurrency"] == 4
