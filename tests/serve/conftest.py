"""Fixtures of the service tests: the tiny model served by a real uvicorn server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _server import LIMITS, running

from lyricseg.inference import Predictor
from lyricseg.serve import create_app


@pytest.fixture(scope="session")
def reference(tiny_checkpoint: Path) -> Predictor:
    """The same model, loaded separately: what the service's answers are checked against."""
    return Predictor.from_checkpoint(tiny_checkpoint)


@pytest.fixture(scope="session")
def server_url(tiny_checkpoint: Path) -> Iterator[str]:
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    app = create_app(predictor, checkpoint=tiny_checkpoint.name, **LIMITS)
    with running(app) as url:
        yield url


@pytest.fixture
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=60) as http:
        yield http
