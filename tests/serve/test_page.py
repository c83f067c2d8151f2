"""The page at / in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import json
import re
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _server import LIMITS, running
from playwright.sync_api import expect
from support import RESOURCES

from lyricseg.predict import Predictor, format_tagged
from lyricseg.serve import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The page's colours for verse and chorus rows (``--verse``, ``--chorus`` in index.html).
ROW_COLOURS = {0: "rgb(219, 234, 254)", 1: "rgb(253, 230, 138)"}

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason=f"Chromium not found ({CHROMIUM}); install it with `apt-get install chromium`",
)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            accept_downloads=True,
            viewport={"width": 1100, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser_context, server_url) -> Iterator[Any]:
    """A fresh tab on the page; fails the test if it requests anything from elsewhere."""
    page = browser_context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(server_url + "/")
    expect(page.locator("#model")).to_have_text(re.compile(r"^model "))
    yield page
    page.close()
    assert [url for url in requests if not url.startswith(server_url + "/")] == []
    assert errors == []


def rows(page: Any) -> list[dict[str, Any]]:
    """What the result table shows, row by row."""
    return page.eval_on_selector_all(
        "#result tbody tr",
        """rows => rows.map(row => ({
            label: Number(row.dataset.label),
            shown: row.querySelector('td.label').textContent,
            prob: row.querySelector('td.prob').textContent,
            line: row.querySelector('td.line').textContent,
            section: row.dataset.section ?? null,
            stanza_start: row.classList.contains('stanza-start'),
            colour: getComputedStyle(row).backgroundColor,
        }))""",
    )


def segment(page: Any, lyrics: str) -> None:
    page.fill("#lyrics", lyrics)
    page.click("#segment")
    expect(page.locator("#status")).to_have_text(re.compile(r"^Done in \d+ ms\.$"))


def test_paste_segment_and_read_the_coloured_lines(page, server_url, tmp_path):
    lyrics = (RESOURCES / "song.txt").read_text()
    segment(page, lyrics)
    record = httpx.post(f"{server_url}/v1/segment", json={"lyrics": lyrics}, timeout=60).json()
    shown = rows(page)
    assert [r["line"] for r in shown] == record["lines"]
    assert [r["label"] for r in shown] == record["labels"]
    assert [r["shown"] for r in shown] == [["verse", "chorus"][x] for x in record["labels"]]
    assert [r["prob"] for r in shown] == [f"{p:.3f}" for p in record["probs"]]
    assert [r["colour"] for r in shown] == [ROW_COLOURS[x] for x in record["labels"]]
    assert [i for i, r in enumerate(shown) if r["stanza_start"]] == record["breaks"] == [2, 5, 7]
    chorus = sum(record["labels"])
    assert page.text_content("#summary") == (f"10 lines: {chorus} chorus, {10 - chorus} verse")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    print(f"screenshot: {tmp_path / 'page.png'}")

    with page.expect_download() as download:
        page.click("#download-json")
    assert download.value.suggested_filename == "song-1.json"
    assert json.loads(Path(download.value.path()).read_text()) == record

    with page.expect_download() as download:
        page.click("#download-text")
    assert download.value.suggested_filename == "song-1.txt"
    assert Path(download.value.path()).read_text() == format_tagged(record)


def test_markup_in_lyrics_is_shown_as_text(page):
    lyrics = "<img src=x onerror=alert(1)> first\n<b>bold</b> second"
    segment(page, lyrics)
    assert [r["line"] for r in rows(page)] == lyrics.splitlines()
    assert page.query_selector("#result img") is None and page.query_selector("#result b") is None


def test_errors_are_shown_not_thrown(page):
    page.fill("#lyrics", "  \n ")
    page.click("#segment")
    assert page.text_content("#status") == "Paste some lyrics first."
    too_long = "\n".join(f"line {i}" for i in range(LIMITS["max_lines"] + 1))
    page.fill("#lyrics", too_long)
    page.click("#segment")
    expect(page.locator("#status")).to_have_text(
        f"Error: song 'song-1' has {LIMITS['max_lines'] + 1} lines; "
        f"the limit is {LIMITS['max_lines']}"
    )
    assert page.is_hidden("#output") and page.is_disabled("#download-json")


class _SectionsModel(Predictor):
    """The tiny model with what a section head adds: a section class per line and section
    starts. Its decisions split each song at the median P(chorus), so that both labels show."""

    def predict(self, songs, **kwargs):
        records = super().predict(songs, **kwargs)
        for record in records:
            median = statistics.median(record["probs"])
            labels = [int(p > median) for p in record["probs"]]
            record["labels"] = labels
            record["sections"] = [["verse", "chorus"][x] for x in labels]
            record["section_starts"] = [
                i for i in range(len(labels)) if i == 0 or labels[i] != labels[i - 1]
            ]
        return records


def test_both_labels_and_sections_are_shown(browser_context, tiny_checkpoint, tmp_path):
    loaded = Predictor.from_checkpoint(tiny_checkpoint)
    predictor = _SectionsModel(
        loaded.net, loaded.decoder, loaded.features, loaded.calibrator, loaded.record
    )
    app = create_app(predictor, checkpoint="sections", **LIMITS)
    lyrics = (RESOURCES / "song.txt").read_text()
    with running(app) as url:
        page = browser_context.new_page()
        page.goto(url + "/")
        segment(page, lyrics)
        record = httpx.post(f"{url}/v1/segment", json={"lyrics": lyrics}, timeout=60).json()
        headers = page.eval_on_selector_all(
            "#result thead th", "ths => ths.map(t => t.textContent)"
        )
        shown = rows(page)
        page.screenshot(path=str(tmp_path / "sections.png"), full_page=True)
        page.close()
    assert set(record["labels"]) == {0, 1}
    assert headers == ["#", "section", "label", "P(chorus)", "line"]
    assert [r["section"] for r in shown] == record["sections"]
    assert [r["label"] for r in shown] == record["labels"]
    assert [r["colour"] for r in shown] == [ROW_COLOURS[x] for x in record["labels"]]
