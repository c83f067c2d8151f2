"""The HTTP service: a thin layer over :class:`lyricseg.predict.Predictor`.

Endpoints:

* ``POST /v1/segment``: body ``{"lyrics": "text"}`` or ``{"lines": [...]}`` (optional
  ``"id"``), or a JSON list of those. Answers the records ``predict.py`` writes
  (``id, lines, labels, probs`` and any further model outputs), one object for an object, a
  list for a list. ``?format=tagged`` answers the lyrics with section headers and
  ``?format=table`` the text table, as ``predict.py`` writes them.
* ``GET /healthz``: lyricseg version, checkpoint name, model description and limits.
* ``GET /``: the page (``static/index.html``, one self-contained file).

Errors are JSON ``{"detail": "..."}``: 400 malformed JSON, wrong shape or a song without
lines; 413 body over ``max_body_bytes``; 422 more than ``max_songs`` songs or a song over
``max_lines`` lines; 500 (no traceback in the answer) only for a fault of the server itself.

The model runs in a worker thread, one request at a time (a lock guards it), so the event
loop keeps answering health checks while songs are tagged.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from lyricseg.api import song_from_input
from lyricseg.checkpoint import lyricseg_version
from lyricseg.data.songs import Song
from lyricseg.predict import Predictor, format_songs, format_table, format_tagged
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)

#: The page, served at ``/``.
PAGE = Path(__file__).parent / "static" / "index.html"
#: The page may talk to this server only: no script, style or request goes elsewhere.
PAGE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
#: Answer formats of ``POST /v1/segment`` besides JSON (several songs: see format_songs).
TEXT_FORMATS = {"tagged": format_tagged, "table": format_table}


class RequestError(Exception):
    """A request the service refuses, with its HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit`` bytes."""
    too_large = RequestError(413, f"request body over the limit of {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _parse_songs(body: bytes, max_songs: int, max_lines: int) -> tuple[list[Song], bool]:
    """Songs of a request body, and whether it was a list.

    Raises:
        RequestError: 400 for malformed JSON or a wrong shape, 422 for a limit exceeded.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as err:
        reason = err.msg if isinstance(err, json.JSONDecodeError) else type(err).__name__
        raise RequestError(400, f"the body is not valid JSON ({reason})") from None
    many = isinstance(data, list)
    items = data if many else [data]
    if not all(isinstance(item, dict) for item in items):
        raise RequestError(
            400,
            'expected a JSON object {"lyrics": "..."} or {"lines": [...]} (optional "id"), '
            "or a list of them",
        )
    if len(items) > max_songs:
        raise RequestError(422, f"{len(items)} songs in one request; the limit is {max_songs}")
    songs = []
    for n, item in enumerate(items, start=1):
        try:
            song = song_from_input(item, f"song {n}", f"song-{n}")
        except LyricsegError as err:
            raise RequestError(400, str(err)) from None
        if len(song) > max_lines:
            raise RequestError(
                422, f"song '{song.id}' has {len(song)} lines; the limit is {max_lines}"
            )
        songs.append(song)
    return songs, many


def _model_info(predictor: Predictor) -> dict[str, Any] | None:
    """What ``/healthz`` tells about the model (classes, calibration, versions)."""
    record = predictor.record
    if record is None:
        return None
    return {
        "net": record.net.get("_target_"),
        "decoder": record.decoder.get("_target_"),
        "calibrator": (record.calibrator or {}).get("name"),
        "trained_with": record.lyricseg_version,
        "feature_version": record.feature_version,
    }


def create_app(
    predictor: Predictor,
    *,
    checkpoint: str,
    max_body_bytes: int,
    max_lines: int,
    max_songs: int,
    batch_size: int = 16,
) -> FastAPI:
    """Build the service around a loaded model.

    Args:
        predictor: The model, loaded once; shared by all requests behind one lock.
        checkpoint: The checkpoint's name, shown by ``/healthz``.
        max_body_bytes: Largest request body accepted (413 beyond).
        max_lines: Most lines in one song (422 beyond).
        max_songs: Most songs in one request (422 beyond).
        batch_size: Songs per forward pass.

    Returns:
        The ASGI application; the model is warmed up when it starts.

    Raises:
        LyricsegError: When a limit or the batch size is not a positive integer.
    """
    limits = {"max_body_bytes": max_body_bytes, "max_lines": max_lines, "max_songs": max_songs}
    for name, value in {**limits, "batch_size": batch_size}.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise LyricsegError(f"{name} must be a positive integer, got {value!r}")
    page = PAGE.read_bytes()
    lock = threading.Lock()

    def segment(songs: list[Song]) -> list[dict[str, Any]]:
        with lock:
            return predictor.predict(songs, batch_size=batch_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The first prediction pays for lazy imports and allocations; no client should.
        started = time.perf_counter()
        await run_in_threadpool(segment, [Song(id="warm-up", lines=("la la la",))])
        log.info("Model %s ready (%.2f s warm-up)", checkpoint, time.perf_counter() - started)
        yield

    app = FastAPI(
        title="lyricseg",
        version=lyricseg_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(RequestError)
    async def refused(request: Request, err: RequestError) -> JSONResponse:
        log.info("%s %s refused (%d): %s", request.method, request.url.path, err.status, err)
        return JSONResponse({"detail": err.message}, status_code=err.status)

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception) -> JSONResponse:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(err).__name__, err)
        return JSONResponse({"detail": "internal error; see the server log"}, status_code=500)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> Response:
        return HTMLResponse(
            page,
            headers={"Content-Security-Policy": PAGE_POLICY, "X-Content-Type-Options": "nosniff"},
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": lyricseg_version(),
            "checkpoint": checkpoint,
            "model": _model_info(predictor),
            "limits": limits,
        }

    @app.post("/v1/segment")
    async def segment_songs(request: Request, format: str = "json") -> Response:
        if format != "json" and format not in TEXT_FORMATS:
            choices = ", ".join(["json", *TEXT_FORMATS])
            raise RequestError(400, f"unknown format {format!r}; choose one of {choices}")
        body = await _read_body(request, max_body_bytes)
        songs, many = _parse_songs(body, max_songs, max_lines)
        try:
            records = await run_in_threadpool(segment, songs)
        except LyricsegError as err:
            raise RequestError(422, str(err)) from None
        if format in TEXT_FORMATS:
            return PlainTextResponse(format_songs(records, TEXT_FORMATS[format]))
        return JSONResponse(records if many else records[0])

    return app
