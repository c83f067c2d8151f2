"""The HTTP service: a thin layer over :class:`lyricseg.inference.Predictor`.

Endpoints:

* ``POST /v1/segment``: body ``{"lyrics": "text"}`` or ``{"lines": [...]}`` (optional
  ``"id"``), or a JSON list of those. Answers the records ``predict.py`` writes
  (``id, lines, labels, probs`` and any further model outputs) with each song's sections
  and their names added (``"spans"``: ``name``, ``header`` such as ``"Verse 2"``, ``start``,
  ``end``), one object for an object, a list for a list. ``?format=tagged`` answers the
  lyrics with section headers and ``?format=table`` the text table, as ``predict.py``
  writes them.
* ``GET /healthz``: lyricseg version, checkpoint name, model description and limits.
* ``GET /``: the page (``static/index.html``, one self-contained file).

Errors are JSON ``{"detail": "..."}``: 400 malformed JSON, wrong shape or a song without
lines; 408 a body not received within ``body_timeout_s``; 413 body over ``max_body_bytes``;
415 a POST whose ``Content-Type`` is not ``application/json`` (a page on another site cannot
send one without the browser asking this server first, which it never allows); 421 a
``Host`` that is not a loopback name while the server listens on a loopback address (DNS
rebinding); 422 more than ``max_songs`` songs, a song over ``max_lines`` lines or more than
``max_request_lines`` lines in all; 500 (no traceback in the answer) only for a fault of the
server itself.

The songs of concurrent requests are tagged together in small batches off the event loop
(:class:`lyricseg.serve.batching.Batcher`), so the loop keeps answering health checks while
songs are tagged and a large request cannot hold the model while a small one waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from lyricseg.api import song_from_input
from lyricseg.checkpoint import lyricseg_version
from lyricseg.data.songs import Song
from lyricseg.inference import Predictor, Segmentation, format_songs
from lyricseg.serve.batching import Batcher
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
TEXT_FORMATS = {"tagged": Segmentation.to_tagged, "table": Segmentation.to_table}
#: The ``Host`` names a client of a server on a loopback address uses (a browser sends the
#: name it resolved, so a DNS name rebound to 127.0.0.1 shows here).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
#: A ``Host`` header: a name or a bracketed IPv6 address, then an optional port.
_HOST = re.compile(r"(?P<name>\[[^\]]*\]|[^:\[\]]*)(?::\d+)?")


class RequestError(Exception):
    """A request the service refuses, with its HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def is_loopback_address(host: str) -> bool:
    """Whether a server listening on ``host`` can be reached from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # another name
        return False


def is_loopback_host(host: str) -> bool:
    """Whether a ``Host`` header names this machine (a :data:`LOOPBACK_HOSTS` name, any port)."""
    match = _HOST.fullmatch(host)
    return match is not None and match["name"].lower() in LOOPBACK_HOSTS


class LoopbackHostOnly:
    """ASGI middleware: answer 421 to a request whose ``Host`` is not a loopback name.

    A page on another site can make a browser send requests to 127.0.0.1 through a DNS name
    it controls (DNS rebinding); the ``Host`` header then carries that name.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 421 to a foreign ``Host``, else pass the request on."""
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not is_loopback_host(host):
                log.info("%s %s refused (421): Host %r", scope["method"], scope["path"], host)
                names = ", ".join(LOOPBACK_HOSTS)
                detail = f"this server answers only to the Host names {names}"
                response = JSONResponse({"detail": detail}, status_code=421)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _require_json(request: Request) -> None:
    """Refuse (415) a body that does not say it is JSON."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise RequestError(415, "the body must be sent with Content-Type: application/json")


async def _read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The request body, refused as soon as it is known to be too large or too slow.

    Raises:
        RequestError: 413 beyond ``limit`` bytes; 408 when the body has not all arrived
            ``timeout_s`` seconds after the headers (the connection is then closed).
    """
    too_large = RequestError(413, f"request body over the limit of {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise too_large
    except TimeoutError:
        raise RequestError(
            408,
            f"the request body did not arrive within {timeout_s:g} s",
            {"Connection": "close"},
        ) from None
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


def _check_work(songs: list[Song], max_request_lines: int) -> None:
    """Refuse (422) a request with more lines in all than one request may bring."""
    total = sum(len(song) for song in songs)
    if total > max_request_lines:
        raise RequestError(
            422,
            f"{total} lines in one request; the limit is {max_request_lines} "
            "(send the songs in several requests)",
        )


def _model_info(predictor: Predictor) -> dict[str, Any] | None:
    """What ``/healthz`` tells about the model (classes, calibration, versions)."""
    record = predictor.record
    if record is None:
        return None
    return {
        "net": record.net.get("_target_"),
        "decoder": record.decoder.get("_target_"),
        "calibrator": (record.calibrator or {}).get("name"),
        "conventions": list(predictor.conventions),
        "convention": predictor.conventions[predictor.convention_id],
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
    max_request_lines: int,
    batch_size: int = 16,
    max_batch_lines: int = 2000,
    batch_wait_ms: float = 2.0,
    workers: int = 1,
    torch_threads: int | None = None,
    body_timeout_s: float = 10.0,
    host: str = "127.0.0.1",
) -> FastAPI:
    """Build the service around a loaded model.

    Args:
        predictor: The model, loaded once; shared by all requests (see ``workers``).
        checkpoint: The checkpoint's name, shown by ``/healthz``.
        max_body_bytes: Largest request body accepted (413 beyond).
        max_lines: Most lines in one song (422 beyond).
        max_songs: Most songs in one request (422 beyond).
        max_request_lines: Most lines in one request, all songs together (422 beyond): the
            work one request may ask for.
        batch_size: Most songs in one batch (and one forward pass).
        max_batch_lines: Most lines in one batch (a longer song is a batch of its own).
        batch_wait_ms: How long an idle worker waits for concurrent requests to join a batch.
        workers: Batches tagged at the same time; more than 1 runs each in its own process
            with a copy of the model.
        torch_threads: Threads torch may use in each worker process (None: torch's default).
        body_timeout_s: Time a request body may take to arrive after the headers (408).
        host: The address the server listens on; on a loopback address only requests with
            a loopback ``Host`` are answered (421).

    Returns:
        The ASGI application; the workers start and are warmed up when it starts.

    Raises:
        LyricsegError: When a limit or a batching setting is out of range.
    """
    limits = {
        "max_body_bytes": max_body_bytes,
        "max_lines": max_lines,
        "max_songs": max_songs,
        "max_request_lines": max_request_lines,
    }
    counts = {**limits, "batch_size": batch_size, "max_batch_lines": max_batch_lines}
    for name, value in {**counts, "workers": workers}.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise LyricsegError(f"{name} must be a positive integer, got {value!r}")
    for name, value, least in (
        ("batch_wait_ms", batch_wait_ms, 0),
        ("body_timeout_s", body_timeout_s, 1e-3),
    ):
        if not isinstance(value, int | float) or isinstance(value, bool) or not value >= least:
            raise LyricsegError(f"{name} must be a number of at least {least:g}, got {value!r}")
    page = PAGE.read_bytes()
    batcher = Batcher(
        predictor,
        batch_size=batch_size,
        max_songs=batch_size,
        max_lines=max_batch_lines,
        wait_s=batch_wait_ms / 1000,
        workers=workers,
        torch_threads=torch_threads,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The first prediction pays for lazy imports and allocations; no client should.
        started = time.perf_counter()
        await batcher.start()
        log.info(
            "Model %s ready (%d worker%s, %.2f s start and warm-up)",
            checkpoint,
            workers,
            "s" if workers > 1 else "",
            time.perf_counter() - started,
        )
        try:
            yield
        finally:
            await batcher.close()

    app = FastAPI(
        title="lyricseg",
        version=lyricseg_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    if is_loopback_address(host):
        app.add_middleware(LoopbackHostOnly)

    @app.exception_handler(RequestError)
    async def refused(request: Request, err: RequestError) -> JSONResponse:
        log.info("%s %s refused (%d): %s", request.method, request.url.path, err.status, err)
        return JSONResponse({"detail": err.message}, status_code=err.status, headers=err.headers)

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
        _require_json(request)
        body = await _read_body(request, max_body_bytes, body_timeout_s)
        songs, many = _parse_songs(body, max_songs, max_lines)
        _check_work(songs, max_request_lines)
        try:
            predictor.check(songs)  # here, so that no other request's batch fails with it
            records = await batcher.predict(songs)
        except LyricsegError as err:
            raise RequestError(422, str(err)) from None
        if format in TEXT_FORMATS:
            return PlainTextResponse(format_songs(records, TEXT_FORMATS[format]))
        answers = [record.to_dict(spans=True) for record in records]
        return JSONResponse(answers if many else answers[0])

    return app
