"""The same song gives the same answer whichever way it comes in (the shipped model).

Text without blank lines, standard input, ``Segmenter(text)``, ``Segmenter(lines)``, a JSONL
record and ``POST /v1/segment {"lyrics"}`` must agree; headed text is read the same way on
every text path and its headers come back as ``given_sections``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support import RESOURCES

from lyricseg import Segmenter
from lyricseg.inference import Predictor
from lyricseg.predict import predict
from lyricseg.sections import default_section_map
from lyricseg.serve import create_app
from lyricseg.utils.errors import LyricsegError

#: Invented lyrics, one line per line and no blank line: what most pasted lyrics look like.
SONGS = {
    "porch": [
        "the porch light hums a tune",
        "moths are dancing round the moon",
        "stay awhile, stay awhile",
        "the night is young and so are we",
        "grandpa's chair is rocking slow",
        "crickets sing what crickets know",
        "stay awhile, stay awhile",
        "the night is young and so are we",
    ],
    "tram": [
        "number nine is running late",
        "rain is writing on the gate",
        "ding ding, here it comes",
        "ding ding, here it comes",
        "a coat, a cough, a folded page",
        "ding ding, here it comes",
    ],
}
HEADED = RESOURCES / "headed_input"


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.from_checkpoint(None)


@pytest.fixture(scope="module")
def http(predictor):
    app = create_app(predictor, checkpoint="shipped", max_body_bytes=100_000, max_lines=200,
                     max_songs=10, max_request_lines=2000)  # fmt: skip
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def run_predict(make_cfg, tmp_path: Path, source: str, *overrides: str) -> list[dict]:
    out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}.jsonl"
    cfg = make_cfg(f"input={source}", f"output={out}", "format=jsonl", *overrides,
                   config_name="predict")  # fmt: skip
    return [record.to_dict() for record in predict(cfg)["records"]]


def answer(record: dict) -> tuple:
    """What must agree between paths (ids, breaks and the input's headers aside)."""
    return (record["lines"], record["labels"], record["probs"], record.get("sections"),
            record.get("section_starts"))  # fmt: skip


def test_a_song_without_blank_lines_gets_one_answer_on_every_path(
    make_cfg, tmp_path, monkeypatch, predictor, http
):
    seg = Segmenter(predictor)
    corpus = tmp_path / "songs.jsonl"
    corpus.write_text("".join(json.dumps({"id": k, "lines": v}) + "\n" for k, v in SONGS.items()))
    from_jsonl = {r["id"]: r for r in run_predict(make_cfg, tmp_path, str(corpus))}
    for song_id, lines in SONGS.items():
        text = "\n".join(lines) + "\n"
        path = tmp_path / f"{song_id}.txt"
        path.write_text(text)
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
        posted = http.post("/v1/segment", json={"id": song_id, "lyrics": text})
        assert posted.status_code == 200, posted.text
        paths = {
            "txt": run_predict(make_cfg, tmp_path, str(path))[0],
            "stdin": run_predict(make_cfg, tmp_path, "-")[0],
            "Segmenter(text)": seg(text).to_dict(),
            "Segmenter(lines)": seg(lines).to_dict(),
            "jsonl": from_jsonl[song_id],
            "POST lyrics": posted.json(),
        }
        answers = {name: answer(record) for name, record in paths.items()}
        assert all(a == answers["jsonl"] for a in answers.values()), {
            name: record["probs"][:3] for name, record in paths.items()
        }
        for record in paths.values():
            assert "breaks" not in record and record["given_sections"] is None


def test_headed_text_is_read_alike_on_every_text_path(make_cfg, tmp_path, monkeypatch, http):
    seg = Segmenter.load()
    smap = default_section_map()
    for path in sorted(HEADED.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
        posted = http.post("/v1/segment", json={"id": path.stem, "lyrics": text})
        paths = {
            "txt": run_predict(make_cfg, tmp_path, str(path))[0],
            "stdin": run_predict(make_cfg, tmp_path, "-")[0],
            "Segmenter(text)": seg(text).to_dict(),
            "POST lyrics": posted.json(),
        }
        first = paths["txt"]
        for record in paths.values():
            assert answer(record) == answer(first)
            assert record["given_sections"] == first["given_sections"]
            assert record.get("breaks") == first.get("breaks")
        # no header is left among the lyrics, so tagged output shows each header once
        assert all(smap.read_header(line) is None for line in first["lines"])
        tagged_file = tmp_path / f"{path.stem}.tagged.txt"
        run_predict(make_cfg, tmp_path, str(path), "format=tagged", f"output={tagged_file}")
        for tagged in (seg(text).to_tagged(), http.post("/v1/segment?format=tagged",
                                                         json={"lyrics": text}).text,
                       tagged_file.read_text(encoding="utf-8")):  # fmt: skip
            body = [line for line in tagged.splitlines() if line and not line.startswith("[")]
            assert body == first["lines"]
        if path.name != "no_headers.txt":
            assert first["given_sections"] and all(first["given_sections"])


def test_header_lines_are_used_as_stanza_breaks(make_cfg, tmp_path):
    # A headed text answers as the JSONL record of its lyric lines with the header positions
    # as breaks, and not as the same lines with unknown breaks.
    from lyricseg.data.songs import read_txt

    headed = sorted(p for p in HEADED.glob("*.txt") if p.name != "no_headers.txt")
    assert len(headed) == 3
    for path in headed:
        song = read_txt(path)
        assert song.sections is not None and song.breaks is not None
        records = {}
        given = {"breaks": list(song.breaks), "sections": list(song.sections)}
        for name, extra in (("given", given), ("bare", {})):
            corpus = tmp_path / f"{path.stem}-{name}.jsonl"
            corpus.write_text(json.dumps({"id": song.id, "lines": list(song.lines), **extra}))
            records[name] = run_predict(make_cfg, tmp_path, str(corpus))[0]
        from_text = run_predict(make_cfg, tmp_path, str(path))[0]
        assert answer(from_text) == answer(records["given"]) != answer(records["bare"])
        assert from_text["breaks"] == records["given"]["breaks"] == list(song.breaks)
        assert from_text["given_sections"] == records["given"]["given_sections"]
        assert from_text["given_sections"] == list(song.sections)


def test_headers_keep_on_every_path(make_cfg, tmp_path, predictor, http):
    path = HEADED / "marked.txt"
    text = path.read_text(encoding="utf-8")
    kept = run_predict(make_cfg, tmp_path, str(path), "headers=keep")[0]
    assert kept["lines"][0] == "Verse 1:" and kept["given_sections"] is None
    assert Segmenter(predictor, headers="keep")(text).to_dict() == kept | {"id": "song-1"}
    posted = http.post("/v1/segment", json={"id": "marked", "lyrics": text, "headers": "keep"})
    answer = posted.json()
    assert answer.pop("spans")  # what the service adds to predict's record
    assert answer == kept
    refused = http.post("/v1/segment", json={"lyrics": text, "headers": "drop"})
    assert refused.status_code == 400
    assert refused.json()["detail"] == "song 1: 'headers': 'drop' is not one of strip, keep"
    with pytest.raises(LyricsegError, match="is not one of strip, keep"):
        run_predict(make_cfg, tmp_path, str(path), "headers=drop")
    with pytest.raises(LyricsegError, match="is not one of strip, keep"):
        Segmenter(predictor, headers="drop")


def test_the_table_shows_the_given_headers(make_cfg, tmp_path, capsys):
    cfg = make_cfg(f"input={HEADED / 'brackets.txt'}", config_name="predict")
    predict(cfg)
    table = capsys.readouterr().out.splitlines()
    assert "given" in table[0].split()
    assert table[4].endswith("  Chorus x2        carry me over, carry me home")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"lines": ["a", "b\\ud800"]}', "song 1: 'lines' item 2 holds a lone surrogate"),
        (b'{"id": "x\\udc80", "lines": ["a"]}', "song 1: 'id' holds a lone surrogate"),
        (b'{"id": "x\\udc80", "lyrics": "a"}', "song 1: 'id' holds a lone surrogate"),
        (b'{"lyrics": "a\\nb\\ud800"}', "song 1:2: invalid UTF-8"),
        (b'{"lines": ' + b"[" * 50_000, "the body is not valid JSON (RecursionError)"),
    ],
)
def test_lone_surrogates_are_refused_before_inference(http, predictor, monkeypatch, body, message):
    def no_inference(*args, **kwargs):
        raise AssertionError("the model ran on a request that should have been refused")

    monkeypatch.setattr(predictor, "predict", no_inference)
    response = http.post("/v1/segment", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(message)


def test_lone_surrogates_in_a_corpus_are_a_user_error(make_cfg, tmp_path):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "lines": ["one", "two\\ud800"]}\n')
    with pytest.raises(LyricsegError, match=r"bad.jsonl:1: 'lines' item 2 holds a lone"):
        run_predict(make_cfg, tmp_path, str(corpus))


def test_predict_segmenter_and_service_write_the_same_json(make_cfg, tmp_path, predictor, http):
    """One record type: the JSONL line ``predict.py`` writes, ``Segmenter``'s ``to_dict`` and
    the service's answer (less the ``spans`` it adds) are the same JSON, byte for byte; the
    tagged and table texts agree too."""
    songs = [{"id": k, "lines": v} for k, v in SONGS.items()]
    songs.append({"id": "headed", "lyrics": (HEADED / "marked.txt").read_text(encoding="utf-8")})
    seg = Segmenter(predictor)
    corpus = tmp_path / "songs.jsonl"
    read = [seg(song).to_dict() for song in songs]  # the songs as records with lines and breaks
    corpus.write_text("".join(json.dumps({"id": r["id"], "lines": r["lines"]}) + "\n"
                              for r in read[:-1]))  # fmt: skip
    out = tmp_path / "out.jsonl"
    predict(make_cfg(f"input={corpus}", f"output={out}", config_name="predict"))
    written = out.read_text(encoding="utf-8").splitlines()
    posted = http.post("/v1/segment", json=songs[:-1]).json()
    results = seg.predict_batch(songs[:-1])
    for line, answer, result in zip(written, posted, results, strict=True):
        spans = answer.pop("spans")
        assert json.dumps(answer, ensure_ascii=False) == line
        assert json.dumps(result.to_dict(), ensure_ascii=False) == line
        assert spans == [span.to_dict() for span in result.spans()]
    # a headed text: the same on the command line (as a .txt), in the API and the service
    text = tmp_path / "headed.txt"
    text.write_text(songs[-1]["lyrics"], encoding="utf-8")
    for fmt, render in (("tagged", "to_tagged"), ("table", "to_table"), ("jsonl", "to_dict")):
        out = tmp_path / f"headed.{fmt}"
        predict(make_cfg(f"input={text}", f"output={out}", f"format={fmt}",
                         config_name="predict"))  # fmt: skip
        mine = getattr(seg({"id": "headed", "lyrics": songs[-1]["lyrics"]}), render)()
        if fmt == "jsonl":
            assert out.read_text(encoding="utf-8") == json.dumps(mine, ensure_ascii=False) + "\n"
            answer = http.post("/v1/segment", json=songs[-1]).json()
            assert {**answer, "spans": None} == {**mine, "spans": None}
        else:
            assert out.read_text(encoding="utf-8") == mine.rstrip("\n") + "\n"
            served = http.post(f"/v1/segment?format={fmt}", json=songs[-1]).text
            assert served == mine.rstrip("\n") + "\n"
