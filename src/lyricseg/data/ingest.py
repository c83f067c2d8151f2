"""Ingest headed lyrics (Genius/AZLyrics-style text, lyricsgenius JSON) as a JSONL corpus.

``python -m lyricseg.commands.convert INPUT... --out corpus.jsonl [--map FILE] [--report FILE]
[--strict] [--expand-repeats]``

Inputs are text files (one song each), lyricsgenius JSON dumps (``{"songs": [{"title",
"artist"?, "lyrics"}, ...]}``) or single-song JSON (``{"title", "lyrics"}``), and
directories, searched recursively for ``*.txt`` and ``*.json`` (symbolic links found there are
skipped and counted: they may lead out of the folder). In the lyrics, a header line names
the block of lines below it: a line that is one bracketed group (``[Chorus x2: Singer]``), or
a marked section name (``(Chorus)``, ``Verse 1:``, ``#CHORUS``, ``Chorus x2``); the same
parser reads headed text given to ``predict.py``
(:func:`lyricseg.data.songs.parse_blocks`). Blank lines separate stanzas. Each song becomes
one record::

    {"id": "...", "lines": [...], "labels": [0, 1, ...], "sections": ["Verse 1", ...],
     "breaks": [4, 9, ...]}

``sections[i]`` is the header above line ``i`` as written (credits after ``:`` cut, ``""``
before the first header), ``labels[i]`` is 1 when the section map puts that header in a
chorus class, ``breaks`` lists the lines that a blank line or a header line stood before
(the first line excluded). Headers the section map does not know are counted in the report
(``--strict``: an error), never guessed. See ``docs/sections.md``.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lyricseg.data.songs import (
    Block,
    DataError,
    check_unicode,
    flatten_blocks,
    parse_blocks,
    split_lines,
)
from lyricseg.sections import SectionMap, section_starts, strip_multipliers
from lyricseg.utils import get_logger
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.io import atomic_write

log = get_logger("lyricseg.data.ingest")

#: File suffixes picked up when an input is a directory.
SUFFIXES = (".txt", ".json")

# Genius page artifacts (see docs/sections.md, "Removed page artifacts"). Both patterns run
# in linear time on any line: the title keeps its trailing spaces (stripped by the caller)
# rather than leaving them to a second, overlapping `\s*`, and an embed counter is tried only
# where a run of digits starts.
_TITLE_LINE = re.compile(r"^(?P<title>[^\[]*?)(?<!\S)Lyrics(?=\s*\[|\s*$)")
_CONTRIBUTORS = re.compile(r"^\d+\s*Contributors?")
_TICKET_AD = re.compile(r"See .{1,100}? ?LiveGet tickets as low as \$\d+")
_ALSO_LIKE = re.compile(r"You might also like")
_EMBED = re.compile(r"(?:(?<=\S)|^)(?<![\d.])\d*(?:\.\d+)?K?Embed(?:Share URLCopyEmbedCopy)?\s*$")
_ODD_SPACES = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\u3000]")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")
_SLUG = re.compile(r"[^\w]+")


@dataclass
class ConvertReport:
    """What a conversion read, wrote and could not map.

    ``unmapped_headers`` maps each unmapped header (as written) to ``{"blocks", "lines",
    "first"}``: how many header lines named it, how many lyric lines it covers and where it
    first appears (``file:line``).
    """

    files_read: int = 0
    songs_written: int = 0
    lines: int = 0
    sections: int = 0
    symlinks_skipped: int = 0
    songs_without_headers: int = 0
    lines_without_header: int = 0
    unmapped_lines: int = 0
    empty_headers: int = 0
    repeats_expanded: int = 0
    repeats_unresolved: int = 0
    class_lines: Counter = field(default_factory=Counter)
    artifacts_removed: Counter = field(default_factory=Counter)
    unmapped_headers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (unmapped headers by decreasing line count)."""
        unmapped = sorted(self.unmapped_headers.items(), key=lambda kv: (-kv[1]["lines"], kv[0]))
        return {
            "files_read": self.files_read,
            "songs_written": self.songs_written,
            "symlinks_skipped": self.symlinks_skipped,
            "lines": self.lines,
            "sections": self.sections,
            "songs_without_headers": self.songs_without_headers,
            "lines_without_header": self.lines_without_header,
            "unmapped_lines": self.unmapped_lines,
            "empty_headers": self.empty_headers,
            "repeats_expanded": self.repeats_expanded,
            "repeats_unresolved": self.repeats_unresolved,
            "class_lines": dict(sorted(self.class_lines.items())),
            "artifacts_removed": dict(sorted(self.artifacts_removed.items())),
            "unmapped_headers": dict(unmapped),
        }


@dataclass
class _Source:
    """One song's raw lyrics and how to name it in ids and messages."""

    base_id: str
    text: str
    title: str | None
    name: str  # "file.txt", or "dump.json: song 3 ('Title')" for a song of a JSON file
    in_json: bool = False

    def at(self, lineno: int) -> str:
        """Where line ``lineno`` (1-based) of :attr:`text` is, for messages."""
        return f"{self.name}, line {lineno}" if self.in_json else f"{self.name}:{lineno}"


def _decode(data: bytes, path: Path) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        lineno = data[: err.start].count(b"\n") + 1
        raise LyricsegError(f"{path}:{lineno}: invalid UTF-8 ({err.reason})") from None
    return text.removeprefix("\ufeff")


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.casefold()).strip("-_") or "song"


def _json_sources(text: str, path: Path) -> list[_Source]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise LyricsegError(
            f"{path}:{err.lineno}: malformed JSON ({err.msg} at column {err.colno})"
        ) from None
    except ValueError as err:  # e.g. an integer longer than Python converts
        raise LyricsegError(f"{path}: malformed JSON ({err})") from None
    except RecursionError:
        raise LyricsegError(f"{path}: malformed JSON (nested too deeply)") from None
    if isinstance(data, dict) and isinstance(data.get("songs"), list):
        songs, default_artist = data["songs"], data.get("name")
    elif isinstance(data, dict) and "lyrics" in data:
        songs, default_artist = [data], None
    else:
        raise LyricsegError(
            f'{path}: expected a lyricsgenius dump {{"songs": [...]}} or one song '
            '{"title", "lyrics"}'
        )
    if not songs:
        raise LyricsegError(f"{path}: the dump holds no songs")
    sources = []
    for i, song in enumerate(songs, start=1):
        if not isinstance(song, dict):
            raise LyricsegError(f"{path}: song {i} is not a JSON object")
        title, lyrics = song.get("title"), song.get("lyrics")
        if not isinstance(title, str) or not title.strip():
            raise LyricsegError(f"{path}: song {i} has no 'title' string")
        if not isinstance(lyrics, str):
            raise LyricsegError(f"{path}: song {i} ({title!r}) has no 'lyrics' string")
        artist = song.get("artist", default_artist)
        where = f"{path}: song {i}"
        try:
            for what, value in (("'title'", title), ("'lyrics'", lyrics), ("'artist'", artist)):
                if isinstance(value, str):
                    check_unicode(value, what, where)
        except DataError as err:
            raise LyricsegError(str(err)) from None
        name = f"{artist} {title}" if isinstance(artist, str) and artist.strip() else title
        sources.append(_Source(_slug(name), lyrics, title, f"{path}: song {i} ({title!r})", True))
    return sources


def _read_sources(path: Path) -> list[_Source]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LyricsegError(f"cannot read {path}: {err.strerror}") from None
    text = _decode(data, path)
    if path.suffix.lower() == ".json":
        return _json_sources(text, path)
    return [_Source(path.stem, text, None, str(path))]


def _expand_inputs(paths: Iterable[str | Path], report: ConvertReport) -> list[Path]:
    """The files to read: named files as given, folders searched (symlinks in them skipped)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = []
            for p in sorted(path.rglob("*")):
                if p.is_symlink():
                    # A link may lead out of the folder (rglob never descends into one).
                    report.symlinks_skipped += 1
                elif p.is_file() and p.suffix.lower() in SUFFIXES:
                    found.append(p)
            if not found:
                raise LyricsegError(f"{path}: no .txt or .json files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise LyricsegError(f"{path}: no such file or directory")
    if not files:
        raise LyricsegError("no input files given")
    return files


def _is_title_line(
    match: re.Match[str], line: str, following: list[str], title: str | None
) -> bool:
    """Whether a first line ending in ``Lyrics`` is Genius's page title, not a lyric."""
    if line[match.end() :].strip() or (following and following[0].strip().startswith("[")):
        return True  # a header follows: the song's first block starts after this line
    if _CONTRIBUTORS.match(line):
        return True
    return title is not None and match["title"].strip().endswith(title.strip())


def _clean_artifacts(
    lines: list[str], report: ConvertReport, title: str | None = None
) -> list[str | None]:
    """Remove Genius page artifacts; a line emptied by a removal becomes ``None`` (dropped).

    Args:
        lines: The song's text lines.
        report: Counts removals under ``artifacts_removed``.
        title: The song's title when known (JSON input), to recognise the title line.

    Returns:
        The lines, cleaned, with ``None`` where a line held only artifacts.
    """
    out: list[str | None] = []
    for raw in lines:
        text = _ZERO_WIDTH.sub("", _ODD_SPACES.sub(" ", raw))
        before = text
        text, n_ads = _TICKET_AD.subn("", text)
        text, n_like = _ALSO_LIKE.subn("", text)
        report.artifacts_removed["ticket_ad"] += n_ads
        report.artifacts_removed["you_might_also_like"] += n_like
        out.append(None if text != before and not text.strip() else text)
    content = [i for i, line in enumerate(out) if line is not None and line.strip()]
    if content:
        first = content[0]
        match = _TITLE_LINE.match(out[first])
        if match and _is_title_line(match, out[first], [out[i] for i in content[1:2]], title):
            out[first] = out[first][match.end() :] or None
            report.artifacts_removed["title_line"] += 1
        last = content[-1]
        if out[last] is not None:
            text, n_embed = _EMBED.subn("", out[last])
            if n_embed:
                out[last] = text if text.strip() else None
                report.artifacts_removed["embed"] += 1
    return out


def _unique_id(base: str, used: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``, ... when taken; the result is marked as used."""
    song_id, n = base, 1
    while song_id in used:
        n += 1
        song_id = f"{base}-{n}"
    used.add(song_id)
    return song_id


def _repeat_key(header: str) -> str:
    """What an empty header must share with an earlier block to repeat it (case, ``x2`` off)."""
    return strip_multipliers(header).casefold()


def _parse_blocks(
    source: _Source, section_map: SectionMap, report: ConvertReport, strict: bool
) -> list[Block]:
    """Split one song's text into header blocks (:func:`~lyricseg.data.songs.parse_blocks`).

    Raises:
        LyricsegError: On a header line that never closes ``[``, an unmapped header with
            ``strict``, or a song without lyric lines; the message names file and line.
    """
    cleaned = _clean_artifacts(split_lines(source.text), report, source.title)
    for lineno, text in enumerate(cleaned, start=1):
        line = (text or "").strip()
        if line.startswith("[") and "]" not in line:
            raise LyricsegError(f"{source.at(lineno)}: header line never closes '[': {line[:60]!r}")
    blocks = parse_blocks(cleaned, section_map)
    for block in blocks:
        if not block.header or section_map.classify(block.header) is not None:
            continue
        if strict:
            raise LyricsegError(
                f"{source.at(block.lineno)}: header {block.header!r} is not in the section "
                f"map {section_map.source} (--strict)"
            )
        entry = report.unmapped_headers.setdefault(
            block.header, {"blocks": 0, "lines": 0, "first": source.at(block.lineno)}
        )
        entry["blocks"] += 1
    if not any(block.lines for block in blocks):
        raise LyricsegError(f"{source.name}: no lyric lines")
    return blocks


def _flatten(
    blocks: list[Block], section_map: SectionMap, report: ConvertReport, expand_repeats: bool
) -> dict[str, Any]:
    """Turn header blocks into the record fields and count them in ``report``."""
    last_by_key: dict[str, Block] = {}
    laid_out: list[Block] = []
    for block in blocks:
        content = block
        if not block.lines and block.header_line:
            report.empty_headers += 1
            if expand_repeats:
                content = last_by_key.get(_repeat_key(block.header), block)
                if content is block:
                    report.repeats_unresolved += 1
                else:
                    report.repeats_expanded += 1
        elif block.lines:
            last_by_key[_repeat_key(block.header)] = block
        laid_out.append(
            Block(block.header, block.lineno, True, content.lines, content.blank_before)
            if block.header_line
            else block
        )
        if block.header in report.unmapped_headers:
            report.unmapped_headers[block.header]["lines"] += len(content.lines)
    flat = flatten_blocks(laid_out)
    lines, sections = list(flat.lines), list(flat.sections)
    classes = [section_map.classify(h) for h in sections]
    report.class_lines.update(c for c in classes if c is not None)
    report.unmapped_lines += sum(
        1 for c, h in zip(classes, sections, strict=True) if h and c is None
    )
    no_header = sum(1 for h in sections if not h)
    report.lines_without_header += no_header
    report.songs_without_headers += int(no_header == len(sections))
    report.sections += sum(section_starts(sections, flat.header_above))
    report.lines += len(lines)
    return {
        "lines": lines,
        "labels": [int(section_map.is_chorus(c)) for c in classes],
        "sections": sections,
        "breaks": list(flat.breaks),
    }


def convert_paths(
    paths: Sequence[str | Path],
    section_map: SectionMap,
    strict: bool = False,
    expand_repeats: bool = False,
) -> tuple[list[dict[str, Any]], ConvertReport]:
    """Convert files and directories of headed lyrics into corpus records.

    Args:
        paths: Text files, JSON files and directories (searched for ``*.txt``/``*.json``).
        section_map: Header -> class rules (e.g. ``SectionMap.load()``).
        strict: Make an unmapped header an error instead of a report entry.
        expand_repeats: Give a header with no lines under it (``[Chorus]`` meaning "repeat
            the chorus") the lines of the last earlier block with the same header (compared
            without case and ``x2``); by default such a header adds no line.

    Returns:
        ``(records, report)``: records ``{"id", "lines", "labels", "sections", "breaks"}``
        in input order (files sorted within a directory), and what was read and left unmapped.

    Raises:
        LyricsegError: On unreadable or malformed input, naming file and line.
    """
    started = time.perf_counter()
    report = ConvertReport()
    records: list[dict[str, Any]] = []
    used: set[str] = set()
    for path in _expand_inputs(paths, report):
        report.files_read += 1
        for source in _read_sources(path):
            blocks = _parse_blocks(source, section_map, report, strict)
            record = _flatten(blocks, section_map, report, expand_repeats)
            song_id = _unique_id(source.base_id, used)
            records.append({"id": song_id, **record})
    report.songs_written = len(records)
    seconds = max(time.perf_counter() - started, 1e-9)
    log.info(
        "converted %d songs (%d lines) from %d files in %.2f s: %.0f songs/s, %.0f lines/s",
        len(records),
        report.lines,
        report.files_read,
        seconds,
        len(records) / seconds,
        report.lines / seconds,
    )
    return records, report


def write_corpus(path: str | Path, records: Sequence[dict[str, Any]]) -> None:
    """Write records as JSONL, atomically (nothing is left behind on failure)."""
    try:
        with atomic_write(path) as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    except OSError as err:
        raise LyricsegError(f"cannot write {path}: {err.strerror or err}") from None


def log_summary(report: ConvertReport, out: Path) -> None:
    """Log what a conversion wrote to ``out`` and the headers the section map did not know."""
    data = report.as_dict()
    log.info(
        "wrote %d songs, %d lines, %d sections to %s (%d files read)",
        data["songs_written"],
        data["lines"],
        data["sections"],
        out,
        data["files_read"],
    )
    if data["songs_without_headers"]:
        log.info("%d songs have no header at all", data["songs_without_headers"])
    if data["empty_headers"]:
        log.info(
            "%d headers have no lines under them (%d expanded, %d without an earlier block)",
            data["empty_headers"],
            data["repeats_expanded"],
            data["repeats_unresolved"],
        )
    if data["unmapped_headers"]:
        log.warning(
            "%d unmapped headers over %d lines (label 0, class unknown); add rules to the "
            "section map to map them:",
            len(data["unmapped_headers"]),
            data["unmapped_lines"],
        )
        for header, entry in data["unmapped_headers"].items():
            log.warning(
                "  %-30r %4d lines %3d blocks  first at %s",
                header,
                entry["lines"],
                entry["blocks"],
                entry["first"],
            )
