"""POST /v1/segment, GET /healthz and GET / against a real uvicorn server."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from _server import LIMITS, running
from fastapi.testclient import TestClient
from support import RESOURCES

from lyricseg.checkpoint import lyricseg_version
from lyricseg.data.songs import Song, read_songs
from lyricseg.inference import Predictor, Segmentation, format_songs
from lyricseg.serve import create_app
from lyricseg.serve.app import is_loopback_address
from lyricseg.utils.errors import LyricsegError

SONG = (RESOURCES / "song.txt").read_text()
#: What a JSON body is sent with (without it, 415).
JSON = {"Content-Type": "application/json"}


def read_back(tmp_path: Path, song: str | list[str], song_id: str) -> Song:
    """The song as the song reader reads it from a file: text as a .txt, lines as JSONL."""
    if isinstance(song, str):
        path = tmp_path / f"{song_id}.txt"
        path.write_text(song)
    else:
        path = tmp_path / f"{song_id}.jsonl"
        path.write_text(json.dumps({"id": song_id, "lines": song}) + "\n")
    (read,) = read_songs(path)
    return read


def expected(reference: Predictor, tmp_path: Path, song: str | list[str], song_id: str) -> dict:
    """The record predict.py gives for the same song read from a file, with its spans."""
    (record,) = reference.predict([read_back(tmp_path, song, song_id)])
    return record.to_dict(spans=True)


def assert_same_record(got: dict, want: dict) -> None:
    """The record of a song tagged in a batch with other requests' songs is the record of the
    song alone, but for float rounding (the batch's shape changes the order of sums)."""
    assert {**got, "probs": None} == {**want, "probs": None}
    assert got["probs"] == pytest.approx(want["probs"], abs=1e-5)


def test_healthz_describes_the_model(client, tiny_checkpoint):
    response = client.get("/healthz")
    assert response.status_code == 200
    info = response.json()
    assert info["status"] == "ok"
    assert info["version"] == lyricseg_version()
    assert info["checkpoint"] == tiny_checkpoint.name
    assert info["model"]["net"] == "lyricseg.models.components.TaggerNet"
    assert info["model"]["calibrator"]  # the tiny model is Platt-calibrated
    assert info["model"]["conventions"] == ["lyrics"] and info["model"]["convention"] == "lyrics"
    assert info["limits"] == LIMITS


def test_lyrics_text_gives_the_predict_record(client, reference, tmp_path):
    response = client.post("/v1/segment", json={"lyrics": SONG})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    record = response.json()
    assert record == expected(reference, tmp_path, SONG, "song-1")
    assert len(record["lines"]) == 10  # blank lines are stanza breaks, not lines


def test_lines_and_id(client, reference, tmp_path):
    lines = ["Rain on the window", "", "La la la", "La la la", "   "]
    record = client.post("/v1/segment", json={"id": "rainy", "lines": lines}).json()
    assert record == expected(reference, tmp_path, lines, "rainy")
    assert record["lines"] == ["Rain on the window", "La la la", "La la la"]


def test_a_list_gives_a_list_in_order(client, reference, tmp_path):
    songs = [
        {"lyrics": SONG},
        {"id": 7, "lines": ["One more time", "One more time"]},
        {"id": "short", "lyrics": "Just a line"},
    ]
    records = client.post("/v1/segment", json=songs).json()
    assert [r["id"] for r in records] == ["song-1", "7", "short"]
    # The songs of one request are tagged together, as the songs of one file are.
    read = [
        read_back(tmp_path, SONG, "song-1"),
        read_back(tmp_path, ["One more time"] * 2, "7"),
        read_back(tmp_path, "Just a line", "short"),
    ]
    assert records == [record.to_dict(spans=True) for record in reference.predict(read)]
    assert client.post("/v1/segment", json=[]).json() == []


@pytest.mark.parametrize(
    ("name", "writer"), [("tagged", Segmentation.to_tagged), ("table", Segmentation.to_table)]
)
def test_text_formats_are_predicts(client, name, writer):
    songs = [{"id": "t", "lyrics": SONG}, {"lines": ["la", "la"]}]
    records = [Segmentation.from_record(r) for r in client.post("/v1/segment", json=songs).json()]
    one = client.post("/v1/segment", params={"format": name}, json=songs[0])
    assert one.status_code == 200
    assert one.headers["content-type"].startswith("text/plain")
    assert one.text == writer(records[0]).rstrip("\n") + "\n"
    both = client.post("/v1/segment", params={"format": name}, json=songs)
    assert both.text == format_songs(records, writer)
    assert both.text.startswith("==> t <==\n") and "\n\n==> song-2 <==\n" in both.text


def test_concurrent_requests_get_their_own_answers(client, reference, tmp_path):
    songs = [[f"line {i} of song {n}" for i in range(n + 2)] + ["oh oh"] * 3 for n in range(12)]
    answers: dict[int, httpx.Response] = {}

    def ask(n: int) -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=60) as http:
            answers[n] = http.post("/v1/segment", json={"id": f"s{n}", "lines": songs[n]})

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(len(songs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, lines in enumerate(songs):
        assert answers[n].status_code == 200
        assert_same_record(answers[n].json(), expected(reference, tmp_path, lines, f"s{n}"))


BAD_REQUESTS = {
    "malformed JSON": b'{"lyrics": "no end',
    "trailing garbage": b'{"lyrics": "a"} x',
    "invalid UTF-8": b'{"lyrics": "\xff\xfe"}',
    "a bare string": b'"just text"',
    "a number": b"42",
    "a list of strings": b'["a", "b"]',
    "neither lyrics nor lines": b'{"text": "a"}',
    "both lyrics and lines": b'{"lyrics": "a", "lines": ["a"]}',
    "lyrics not a string": b'{"lyrics": ["a"]}',
    "lines not strings": b'{"lines": ["a", 2]}',
    "lines a string": b'{"lines": "a"}',
    "id a boolean": b'{"id": true, "lyrics": "a"}',
    "id an object": b'{"id": {}, "lyrics": "a"}',
    "a blank song": b'{"lyrics": " \\n\\n "}',
    "no lines": b'{"lines": []}',
    "a lone surrogate": b'{"lyrics": "a\\ud800"}',
    "deep nesting": b"[" * 20_000 + b"]" * 20_000,
    "empty body": b"",
}


@pytest.mark.parametrize("body", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_are_400_with_a_json_error(client, body):
    response = client.post("/v1/segment", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "Traceback" not in detail


def test_a_blank_song_is_named(client):
    response = client.post("/v1/segment", json={"id": "quiet", "lyrics": "\n \n"})
    assert response.status_code == 400
    assert response.json()["detail"] == "song 1: the song has no lines"


def test_a_bad_song_in_a_list_is_named(client):
    response = client.post("/v1/segment", json=[{"lyrics": "fine"}, {"lines": [1]}])
    assert response.status_code == 400
    assert response.json()["detail"] == "song 2: 'lines' must be a list of strings"


def test_unknown_format_is_400(client):
    response = client.post("/v1/segment", params={"format": "xml"}, json={"lyrics": "a"})
    assert response.status_code == 400
    assert "unknown format 'xml'" in response.json()["detail"]


def _body_of_size(size: int) -> bytes:
    head, tail = b'{"lyrics": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def test_body_at_the_limit_is_read_and_one_byte_more_is_413(client):
    limit = LIMITS["max_body_bytes"]
    at_limit = client.post("/v1/segment", content=_body_of_size(limit), headers=JSON)
    assert at_limit.status_code == 200  # one long line
    over = client.post("/v1/segment", content=_body_of_size(limit + 1), headers=JSON)
    assert over.status_code == 413
    assert over.json()["detail"] == f"request body over the limit of {limit} bytes"


def test_chunked_body_over_the_limit_is_413(client):
    body = _body_of_size(3 * LIMITS["max_body_bytes"])
    chunks = (body[i : i + 4096] for i in range(0, len(body), 4096))
    response = client.post("/v1/segment", content=chunks, headers=JSON)  # no Content-Length
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_too_many_songs_is_422(client):
    songs = [{"lyrics": "la"}] * (LIMITS["max_songs"] + 1)
    response = client.post("/v1/segment", json=songs)
    assert response.status_code == 422
    assert (
        response.json()["detail"] == f"6 songs in one request; the limit is {LIMITS['max_songs']}"
    )
    assert client.post("/v1/segment", json=songs[:-1]).status_code == 200


def test_too_many_lines_is_422_naming_the_song(client):
    n = LIMITS["max_lines"]
    lines = [f"line {i}" for i in range(n + 1)]
    response = client.post("/v1/segment", json=[{"lyrics": "ok"}, {"id": "epic", "lines": lines}])
    assert response.status_code == 422
    assert response.json()["detail"] == f"song 'epic' has {n + 1} lines; the limit is {n}"
    assert client.post("/v1/segment", json={"lines": lines[:n]}).status_code == 200


def test_unknown_paths_and_methods_answer_json(client):
    assert client.get("/nowhere").status_code == 404
    assert client.get("/nowhere").json() == {"detail": "Not Found"}
    assert client.get("/v1/segment").status_code == 405
    for path in ("/docs", "/redoc", "/openapi.json"):  # no page that fetches from elsewhere
        assert client.get(path).status_code == 404


def test_page_is_self_contained(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    page = response.text
    assert 'id="lyrics"' in page and 'id="segment"' in page
    assert "http:" not in page and "https:" not in page and "//" + "cdn" not in page


# --- edge cases in process (TestClient) --------------------------------------------------


@pytest.mark.parametrize("limit", [*LIMITS, "batch_size", "max_batch_lines", "workers"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True, None])
def test_limits_must_be_positive_integers(reference, limit, value):
    limits = {**LIMITS, "batch_size": 4, limit: value}
    with pytest.raises(LyricsegError, match=f"^{limit} must be a positive integer"):
        create_app(reference, checkpoint="m", **limits)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("batch_wait_ms", -1),
        ("body_timeout_s", 0),
        ("body_timeout_s", "5"),
        ("batch_wait_ms", float("nan")),
    ],
)
def test_times_must_be_numbers_in_range(reference, name, value):
    with pytest.raises(LyricsegError, match=f"^{name} must be a number of at least"):
        create_app(reference, checkpoint="m", **LIMITS, **{name: value})


def test_the_models_own_line_limit_is_422(tiny_checkpoint):
    predictor = Predictor.from_checkpoint(tiny_checkpoint, max_lines=3)
    app = create_app(predictor, checkpoint="m", **LIMITS)
    with TestClient(app, base_url="http://localhost") as http:
        response = http.post("/v1/segment", json={"id": "long", "lines": ["a", "b", "c", "d"]})
    assert response.status_code == 422
    assert "song 'long' has 4 lines; the limit is 3" in response.json()["detail"]


class _Broken(Predictor):
    """A model that fails after its warm-up, as a server fault would."""

    def predict(self, songs, **kwargs):
        if songs[0].id != "warm-up":
            raise RuntimeError("boom /secret/path")
        return super().predict(songs, **kwargs)


def test_a_server_fault_is_a_500_without_traceback(tiny_checkpoint, caplog):
    loaded = Predictor.from_checkpoint(tiny_checkpoint)
    broken = _Broken(loaded.net, loaded.decoder, loaded.features, loaded.calibrator, loaded.record)
    app = create_app(broken, checkpoint="m", **LIMITS)
    with running(app) as url:
        response = httpx.post(f"{url}/v1/segment", json={"lyrics": "a"}, timeout=60)
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; see the server log"}
    assert "boom" in caplog.text  # the cause goes to the log, not to the client


# --- safety limits ------------------------------------------------------------------------


class _Queued(Predictor):
    """The real model, holding its first batch until a song named tiny is queued, and slow
    on the others (so that a request answered one batch later is answered visibly later)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tiny_queued = threading.Event()
        self.batches: list[list[str]] = []

    def check(self, songs):
        super().check(songs)  # the service checks a request's songs just before queueing them
        if any(song.id == "tiny" for song in songs):
            self.tiny_queued.set()

    def predict(self, songs, **kwargs):
        if songs[0].id != "warm-up":
            self.batches.append([song.id for song in songs])
            if len(self.batches) == 1:
                self.tiny_queued.wait(timeout=10)
            else:
                time.sleep(0.2)
        return super().predict(songs, **kwargs)


def test_a_tiny_request_is_not_starved_by_a_huge_one(tiny_checkpoint):
    loaded = Predictor.from_checkpoint(tiny_checkpoint)
    model = _Queued(loaded.net, loaded.decoder, loaded.features, loaded.calibrator, loaded.record)
    app = create_app(model, checkpoint="m", **LIMITS, batch_size=2)
    huge = [{"id": f"huge{n}", "lines": [f"line {i}" for i in range(60)]} for n in range(5)]
    answered: dict[str, tuple[float, int]] = {}
    with running(app) as url:

        def post(name: str, body: object) -> None:
            response = httpx.post(f"{url}/v1/segment", json=body, timeout=60)
            answered[name] = (time.monotonic(), response.status_code)

        first = threading.Thread(target=post, args=("huge", huge))
        first.start()
        deadline = time.monotonic() + 30
        while not model.batches and time.monotonic() < deadline:
            time.sleep(0.01)  # the huge request holds the model
        post("tiny", {"id": "tiny", "lines": ["la la", "oh"]})
        first.join()
    assert answered["huge"][1] == answered["tiny"][1] == 200
    assert answered["tiny"][0] < answered["huge"][0]  # not after all five huge songs
    assert model.batches[0] == ["huge0", "huge1"] and "tiny" in model.batches[1]


def test_work_past_the_request_budget_is_422(client):
    budget = LIMITS["max_request_lines"]
    per_song = budget // 3 + 1  # under max_lines, three of them (under max_songs) over budget
    songs = [{"lines": [f"line {i} of {n}" for i in range(per_song)]} for n in range(3)]
    response = client.post("/v1/segment", json=songs)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"{3 * per_song} lines in one request; the limit is {budget} "
        "(send the songs in several requests)"
    )
    assert client.post("/v1/segment", json=songs[:2]).status_code == 200


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"],
)
def test_a_post_not_sent_as_json_is_415(client, content_type):
    # A page on another site can send these without asking the server first (no preflight).
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = client.post("/v1/segment", content=b'{"lyrics": "a"}', headers=headers)
    assert response.status_code == 415
    assert response.json()["detail"] == "the body must be sent with Content-Type: application/json"


def test_json_with_a_charset_is_accepted(client):
    headers = {"Content-Type": "Application/JSON; charset=utf-8"}
    response = client.post("/v1/segment", content=b'{"lyrics": "a"}', headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "::1"])
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/"), ("GET", "/healthz"), ("POST", "/v1/segment")]
)
def test_a_foreign_host_name_is_421_on_loopback(client, host, method, path):
    # DNS rebinding: a name the attacker controls resolves to 127.0.0.1; the Host says so.
    response = client.request(method, path, json={"lyrics": "a"}, headers={"Host": host})
    assert response.status_code == 421
    assert "Host" in response.json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8000", "LOCALHOST", "[::1]:1234"])
def test_loopback_host_names_are_answered(client, host):
    assert client.get("/healthz", headers={"Host": host}).status_code == 200


def test_any_host_name_is_answered_off_loopback(reference):
    app = create_app(reference, checkpoint="m", **LIMITS, host="0.0.0.0")
    with TestClient(app, base_url="http://lyricseg.example") as http:
        assert http.get("/healthz").status_code == 200


def _raw_request(url: str, head: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(head)
    return sock


def _read_answer(sock: socket.socket) -> bytes:
    answer = b""
    with contextlib.suppress(TimeoutError, ConnectionError):
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_body_that_trickles_in_is_408_and_closed(reference):
    app = create_app(reference, checkpoint="m", **LIMITS, body_timeout_s=0.5)
    with running(app) as url:
        sock = _raw_request(
            url,
            b"POST /v1/segment HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        started = time.monotonic()
        with sock:
            for _ in range(15):  # one byte every 0.1 s: never idle, never done
                with contextlib.suppress(OSError):
                    sock.sendall(b" ")
                time.sleep(0.1)
            answer = _read_answer(sock)  # the server closes the connection
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"did not arrive within 0.5 s" in answer
    assert took < 5


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("LOCALHOST", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("myhost", False)],
)  # fmt: skip
def test_loopback_addresses(host, loopback):
    assert is_loopback_address(host) is loopback
