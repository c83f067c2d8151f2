"""The page at / in a real headless Chromium (Debian's), driven by Playwright.

Screenshots (desktop 1280 px and phone 390 px wide) are written under each test's
``tmp_path``, where CI keeps them as artifacts. ``LYRICSEG_CHROMIUM`` names another Chromium.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _server import LIMITS, running
from support import RESOURCES

from lyricseg.inference import Predictor, Segmentation
from lyricseg.sections import default_section_map
from lyricseg.serve import create_app

try:
    from playwright.sync_api import expect
except ImportError:  # require_browser() skips or fails each test with the reason
    expect = None

CHROMIUM = os.environ.get("LYRICSEG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
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
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
#: The page's colours for verse and chorus rows (``--verse``, ``--chorus`` in index.html).
ROW_COLOURS = {0: "rgb(219, 234, 254)", 1: "rgb(253, 230, 138)"}
#: The map's short name of a section, from its tagged-text header ("Verse 2" -> "V2").
SHORT = {
    "Intro": "In",
    "Verse": "V",
    "Pre-Chorus": "Pre",
    "Chorus": "C",
    "Post-Chorus": "Post",
    "Bridge": "B",
    "Outro": "Out",
    "Other": "Oth",
}


def short_name(header: str) -> str:
    """The map's name of a section with this tagged-text header."""
    numbered = re.fullmatch(r"(.+) (\d+)", header)
    return SHORT[numbered[1]] + numbered[2] if numbered else SHORT[header]


def browser_missing(chromium: str) -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if not Path(chromium).is_file():
        return f"Chromium not found ({chromium}); install it with `apt-get install chromium`"
    return None


def require_browser(chromium: str = CHROMIUM) -> None:
    """Skip the browser test without a browser; under ``CI=true`` fail instead, since a skip
    there would pass a build whose page nobody has opened."""
    missing = browser_missing(chromium)
    if missing is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{missing}; with CI=true the browser test must run", pytrace=False)
    pytest.skip(missing)


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"Chromium not found .*CI=true"):
        require_browser("/nonexistent/chromium")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install chromium"):
        require_browser("/nonexistent/chromium")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"Chromium not found"):
        require_browser("/nonexistent/chromium")


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory) -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            accept_downloads=True,
            viewport=DESKTOP,
            permissions=["clipboard-read", "clipboard-write"],
        )
        yield context
        context.close()


@contextlib.contextmanager
def opened(context: Any, url: str, viewport: dict[str, int] = DESKTOP) -> Iterator[Any]:
    """A fresh tab on the page at ``url``; fails the test if the page requests anything from
    elsewhere (the favicon included) or reports an error (a CSP violation included)."""
    page = context.new_page()
    page.set_viewport_size(viewport)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    # Refused requests (4xx answers, which the page shows) are logged by Chromium as errors.
    refused = re.compile(r"^Failed to load resource: the server responded with a status of 4")
    page.goto(url + "/")
    expect(page.locator("#model")).to_have_text(re.compile(r"^model "))
    yield page
    page.close()
    assert [u for u in requests if not u.startswith(url + "/") and not u.startswith("data:")] == []
    assert [u for u in requests if u.endswith("/favicon.ico")] == []
    assert [e for e in errors if not refused.match(e)] == []


@pytest.fixture
def page(browser_context, server_url) -> Iterator[Any]:
    with opened(browser_context, server_url) as page:
        yield page


def rows(page: Any) -> list[dict[str, Any]]:
    """What the result table shows, line by line."""
    return page.eval_on_selector_all(
        "#result tbody tr[data-label]",
        """rows => rows.map(row => ({
            label: Number(row.dataset.label),
            shown: row.querySelector('td.label').textContent,
            prob: row.querySelector('td.prob').textContent,
            line: row.querySelector('td.line').textContent,
            section: row.dataset.section ?? null,
            given: row.dataset.given ?? null,
            stanza_start: 'break' in row.dataset,
            colour: getComputedStyle(row).backgroundColor,
            block: row.closest('tbody').dataset.header,
        }))""",
    )


def blocks(page: Any) -> list[dict[str, Any]]:
    """The section blocks of the table: heading and lines."""
    return page.eval_on_selector_all(
        "#result tbody.block",
        """blocks => blocks.map(b => ({
            heading: b.querySelector('th').firstChild.textContent,
            lines: [...b.querySelectorAll('td.line')].map(td => td.textContent),
        }))""",
    )


def song_map(page: Any) -> list[dict[str, Any]]:
    """The song map's blocks: short name, accessible name, width and grow factor."""
    return page.eval_on_selector_all(
        "#map button",
        """bs => bs.map(b => ({
            text: b.textContent,
            name: b.getAttribute('aria-label'),
            width: b.getBoundingClientRect().width,
            grow: Number(getComputedStyle(b).flexGrow),
            clipped: b.scrollWidth > b.clientWidth,
            top: b.getBoundingClientRect().top,
        }))""",
    )


def segment(page: Any, lyrics: str) -> None:
    page.fill("#lyrics", lyrics)
    page.click("#segment")
    expect(page.locator("#status")).to_have_text(re.compile(r"^Done in \d+ ms\.$"))


def tagged(record: dict[str, Any]) -> str:
    """The tagged text of a record the service answered."""
    return Segmentation.from_record(record).to_tagged()


def check_sections(page: Any, record: dict[str, Any]) -> list[str]:
    """Check that blocks, map and preview name the sections as the service's answer does
    (its ``spans``, the tagged text's headers); return the headers."""
    headers = [s["header"] for s in record["spans"]]
    assert headers == re.findall(r"^\[(.+)\]$", tagged(record), re.MULTILINE)
    spans = [(s["name"], s["start"], s["end"]) for s in record["spans"]]
    assert blocks(page) == [
        {"heading": h, "lines": record["lines"][a:b]}
        for h, (_, a, b) in zip(headers, spans, strict=True)
    ]
    shown = song_map(page)
    lines = [min(b, len(record["lines"])) - a for _, a, b in spans]
    assert [b["grow"] for b in shown] == lines
    assert [b["text"] for b in shown] == [short_name(h) for h in headers]
    assert [b["name"] for b in shown] == [
        f"{h}, line {a + 1}" if n == 1 else f"{h}, lines {a + 1}–{a + n}"
        for h, (_, a, _), n in zip(headers, spans, lines, strict=True)
    ]
    assert not any(b["clipped"] for b in shown)
    assert page.text_content("#preview") == tagged(record)
    return headers


def test_paste_segment_and_read_the_song(page, server_url):
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
    headers = check_sections(page, record)
    chorus = sum(record["labels"])
    sections = f"{len(headers)} section{'s' * (len(headers) > 1)}"
    assert page.text_content("#summary") == (
        f"10 lines in {sections}: {chorus} chorus, {10 - chorus} verse"
    )

    page.click("#copy")
    expect(page.locator("#status")).to_have_text("Tagged text copied.")
    assert page.evaluate("navigator.clipboard.readText()") == tagged(record)

    with page.expect_download() as download:
        page.click("#download-json")
    assert download.value.suggested_filename == "song-1.json"
    assert json.loads(Path(download.value.path()).read_text()) == record

    with page.expect_download() as download:
        page.click("#download-text")
    assert download.value.suggested_filename == "song-1.txt"
    assert Path(download.value.path()).read_text() == tagged(record)


#: Sections (class, lines) that the planned model below predicts for a song of PLANNED_LINES lines:
#: every class of the packaged map, a class twice in a row, verses numbered across the song.
SECTION_PLAN = [
    ("intro", 2),
    ("verse", 4),
    ("pre-chorus", 2),
    ("chorus", 4),
    ("post-chorus", 1),
    ("verse", 3),
    ("verse", 3),
    ("chorus", 4),
    ("chorus", 4),
    ("bridge", 3),
    ("other", 2),
    ("outro", 2),
]
PLANNED_LINES = sum(n for _, n in SECTION_PLAN)


class _PlannedModel(Predictor):
    """The tiny model with planned decisions, so that the page shows many sections.

    A song of :data:`PLANNED_LINES` lines gets what a section head adds (a class per line and
    section starts, after :data:`SECTION_PLAN`) and the headers a user pasted
    (``given_sections``); any other song gets labels only: verse and chorus stanzas in turn.
    """

    def predict(self, songs, **kwargs):
        records = super().predict(songs, **kwargs)
        section_map = default_section_map()
        planned = []
        for song, record in zip(songs, records, strict=True):
            if len(song) == PLANNED_LINES:
                names = tuple(name for name, n in SECTION_PLAN for _ in range(n))
                record = dataclasses.replace(
                    record,
                    sections=names,
                    labels=tuple(int(section_map.is_chorus(name)) for name in names),
                    section_starts=tuple(
                        sum(n for _, n in SECTION_PLAN[:k]) for k in range(len(SECTION_PLAN))
                    ),
                    given_sections=("Intro",) * 2 + ("Verse 1",) * 4 + (None,) * (len(names) - 6),
                )
            else:
                breaks = set(song.breaks or ())
                stanzas = [sum(b <= i for b in breaks) for i in range(len(song))]
                record = dataclasses.replace(record, labels=tuple(s % 2 for s in stanzas))
            planned.append(record)
        return planned


@pytest.fixture(scope="module")
def planned_url(tiny_checkpoint) -> Iterator[str]:
    loaded = Predictor.from_checkpoint(tiny_checkpoint)
    predictor = _PlannedModel(
        loaded.net, loaded.decoder, loaded.features, loaded.calibrator, loaded.record
    )
    with running(create_app(predictor, checkpoint="planned", **LIMITS)) as url:
        yield url


def test_song_map_and_blocks_name_sections_as_the_server_does(
    browser_context, planned_url, tmp_path
):
    lyrics = (RESOURCES / "song.txt").read_text()
    with opened(browser_context, planned_url) as page:
        segment(page, lyrics)
        record = httpx.post(f"{planned_url}/v1/segment", json={"lyrics": lyrics}, timeout=60).json()
        assert check_sections(page, record) == ["Verse 1", "Chorus", "Verse 2", "Chorus"]
        assert [b["text"] for b in song_map(page)] == ["V1", "C", "V2", "C"]
        # One row at desktop width, each block as wide as its share of the lines.
        shown = song_map(page)
        assert len({b["top"] for b in shown}) == 1
        total = sum(b["width"] for b in shown)
        for block in shown:
            assert block["width"] / total == pytest.approx(block["grow"] / 10, abs=0.02)
        assert page.text_content("#summary") == "10 lines in 4 sections: 6 chorus, 4 verse"
        # The map works from the keyboard too.
        page.focus("#map button >> nth=2")
        page.keyboard.press("Enter")
        expect(page.locator("#section-2 th")).to_be_focused()
        assert page.eval_on_selector_all(
            "tbody.highlight", "bs => bs.map(b => b.dataset.header)"
        ) == ["Verse 2"]
        page.screenshot(path=str(tmp_path / "desktop.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'desktop.png'}")


def test_the_page_has_its_own_favicon(page):
    icon = page.get_attribute("link[rel=icon]", "href")
    assert icon.startswith("data:image/svg+xml,")
    size = page.evaluate(
        """async (href) => {
            const image = new Image();
            image.src = href;
            await image.decode();  // rejects an image that does not draw
            return [image.naturalWidth, image.naturalHeight];
        }""",
        icon,
    )
    assert size == [16, 16]


def test_example_song_and_clear(page):
    page.click("#example")
    expect(page.locator("#status")).to_have_text(re.compile(r"^Done in \d+ ms\.$"))
    example = page.input_value("#lyrics")
    assert example.count("\n\n") >= 3
    assert [r["line"] for r in rows(page)] == [x for x in example.splitlines() if x.strip()]
    assert page.is_visible("#map button") and page.is_enabled("#download-json")

    # Lyrics of one's own are not replaced without asking (here: the question is declined).
    page.fill("#lyrics", "my own song")
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.click("#example")
    assert questions == ["Replace the lyrics in the box with the example song?"]
    assert page.input_value("#lyrics") == "my own song"

    page.click("#clear")
    assert page.input_value("#lyrics") == ""
    assert page.is_hidden("#output") and page.is_disabled("#download-json")
    assert page.text_content("#status") == ""
    assert song_map(page) == [] and rows(page) == [] and page.text_content("#preview") == ""
    expect(page.locator("#lyrics")).to_be_focused()


def test_phone_width(browser_context, planned_url, tmp_path):
    with opened(browser_context, planned_url, PHONE) as page:
        page.click("#example")
        expect(page.locator("#status")).to_have_text(re.compile(r"^Done in \d+ ms\.$"))
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'phone.png'}")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # The lyric gets most of the row, and every line of the example (up to six words)
        # fits on one line of the screen.
        widths = page.eval_on_selector_all(
            "#result td.line", "tds => tds.map(td => td.getBoundingClientRect().width)"
        )
        assert min(widths) >= 0.7 * PHONE["width"]
        line_boxes = page.eval_on_selector_all(
            "#result td.line",
            """tds => tds.map(td => {
                const range = document.createRange();
                range.selectNodeContents(td);
                return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
            })""",
        )
        assert line_boxes and set(line_boxes) == {1}
        shown = song_map(page)
        assert shown and not any(b["clipped"] for b in shown)
        assert all(b["width"] >= 24 for b in shown)
        for selector in ("#map", "#preview", "#copy", "#clear", "#example"):
            box = page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector


def test_markup_in_lyrics_is_shown_as_text(page):
    lyrics = "<img src=x onerror=alert(1)> first\n<b>bold</b> second"
    segment(page, lyrics)
    assert [r["line"] for r in rows(page)] == lyrics.splitlines()
    assert page.query_selector("#output img") is None and page.query_selector("#output b") is None
    preview = page.text_content("#preview").splitlines()
    assert all(line in preview for line in lyrics.splitlines())


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


def test_every_section_class_is_shown_under_the_servers_name(
    browser_context, planned_url, tmp_path
):
    url = planned_url
    lyrics = "\n".join(f"sung line number {i + 1}" for i in range(PLANNED_LINES))
    with opened(browser_context, url) as page:
        segment(page, lyrics)
        record = httpx.post(f"{url}/v1/segment", json={"lyrics": lyrics}, timeout=60).json()
        headers = page.eval_on_selector_all(
            "#result thead th", "ths => ths.map(t => t.textContent)"
        )
        shown = rows(page)
        assert check_sections(page, record) == [
            "Intro",
            "Verse 1",
            "Pre-Chorus",
            "Chorus",
            "Post-Chorus",
            "Verse 2",
            "Verse 3",
            "Chorus",
            "Chorus",
            "Bridge",
            "Other",
            "Outro",
        ]
        assert [b["text"] for b in song_map(page)] == [
            "In",
            "V1",
            "Pre",
            "C",
            "Post",
            "V2",
            "V3",
            "C",
            "C",
            "B",
            "Oth",
            "Out",
        ]
        # A map block takes the reader to its section's lines.
        last = page.locator("#section-11 th")
        expect(last).not_to_be_in_viewport()
        page.click("#map button >> nth=11")
        expect(last).to_be_in_viewport()
        expect(last).to_be_focused()
        assert page.eval_on_selector_all(
            "tbody.highlight", "bs => bs.map(b => b.dataset.header)"
        ) == ["Outro"]
        page.click("#map button >> nth=1")
        expect(page.locator("#section-1 th")).to_be_in_viewport()
        assert page.eval_on_selector_all(
            "tbody.highlight", "bs => bs.map(b => b.dataset.header)"
        ) == ["Verse 1"]
        page.screenshot(path=str(tmp_path / "sections.png"), full_page=True)
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(tmp_path / "sections-phone.png"), full_page=True)
        # Twelve sections still make one row at phone width, with nothing to scroll.
        assert len({b["top"] for b in song_map(page)}) == 1
        assert page.evaluate(
            "(m => m.scrollWidth <= m.clientWidth)(document.getElementById('map'))"
        )
    assert headers == ["#", "class", "label", "P(chorus)", "line", "given"]
    assert [r["section"] for r in shown] == record["sections"]
    assert [r["label"] for r in shown] == record["labels"]
    assert [r["colour"] for r in shown] == [ROW_COLOURS[x] for x in record["labels"]]
    assert [r["given"] for r in shown] == [x or "" for x in record["given_sections"]]


def test_the_page_names_sections_only_from_the_answer(page, server_url):
    """The page computes no section name: given other spans and names than the model's, it
    shows those (blocks, map, preview), so it cannot drift from the server's naming."""
    lyrics = "one\ntwo\nthree\nfour\nfive"
    record = httpx.post(f"{server_url}/v1/segment", json={"lyrics": lyrics}, timeout=60).json()
    spans = [
        {"name": "verse", "header": "Verse 7", "start": 0, "end": 2},
        {"name": "chorus", "header": "Hook", "start": 2, "end": 3},
        {"name": "refrain-b", "header": "Refrain B 2", "start": 3, "end": 5},
    ]
    answer = {**record, "spans": spans}
    page.route(
        "**/v1/segment",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(answer)
        ),
    )
    segment(page, lyrics)
    assert blocks(page) == [
        {"heading": "Verse 7", "lines": ["one", "two"]},
        {"heading": "Hook", "lines": ["three"]},
        {"heading": "Refrain B 2", "lines": ["four", "five"]},
    ]
    assert [b["text"] for b in song_map(page)] == ["V7", "C", "RB2"]
    assert [b["name"] for b in song_map(page)] == [
        "Verse 7, lines 1–2", "Hook, line 3", "Refrain B 2, lines 4–5",
    ]  # fmt: skip
    assert page.text_content("#preview") == (
        "[Verse 7]\none\ntwo\n\n[Hook]\nthree\n\n[Refrain B 2]\nfour\nfive\n"
    )
