r"""Song records and their readers: JSONL corpora and plain-text songs.

A corpus file holds one JSON object per line::

    {"id": "song-1", "lines": ["first line", "", "second line"], "labels": [0, 0, 1],
     "sections": ["Verse 1", "", "Chorus"]}

* ``labels`` (0 = verse, 1 = chorus) is required for training and optional for prediction.
* ``sections`` (optional) is the section header above each line as written (``"Verse 1"``,
  ``"Chorus"``, ``""`` before the first header): a list of strings as long as ``lines``.
* Blank lyric lines (empty after stripping whitespace) are dropped together with their
  labels and sections, the same way at train and predict time, so a blank line never reaches
  the features. What they leave is :attr:`Song.breaks`: the indices, into the kept lines, of
  the lines a blank line stood before (a blank line before the first line or after the last
  one marks no break; several blank lines in a row mark one).
* ``breaks`` (optional) gives those indices explicitly: sorted, unique integers in
  ``[1, n)`` where ``n`` is the number of kept lines. This is how :func:`write_jsonl` stores
  them, since it writes the kept lines only. A record that has both blank lines and
  ``breaks`` is accepted only when the two agree.
* ``breaks_complete`` (optional, default true): false says the stanza breaks given are only
  some of the song's, so a line without one is "unknown", not "no break"
  (:attr:`Song.breaks_complete`).

``Song.breaks`` is a tuple (possibly empty) when stanza breaks are known: for a JSONL record
with a blank line or a ``breaks`` key, and for a plain-text song where a blank line (or a
header line) stands between two lyric lines. It is None ("unknown") for a JSONL record with
neither and for a plain-text song without a blank line between lyric lines: most corpora,
and most lyrics copied from the web, have no blank lines at all, and "no break anywhere" would
read such a song as one long stanza.

A plain-text song is split into lines at ``\n`` and ``\r\n`` only (a form feed, U+2028 or
NEL inside a line does not start a new one). Its header lines (``[Chorus]``, ``(Chorus)``,
``Verse 1:``, ``#CHORUS``; :meth:`~lyricseg.sections.SectionMap.read_header` decides)
are taken out of the lyrics with ``headers="strip"`` (the default): each is a stanza break
and names the lines below it in :attr:`Song.sections` (``""`` above the first header; None
when the text has no header). A bracketed line counts only when the section map knows it
(``[Verse 1: Singer]``), so bracketed backing vocals stay lyrics; the converter, whose
Genius-style input brackets nothing else, takes every bracketed line. ``headers="keep"``
reads every line as a lyric line.
:func:`parse_blocks` is the one parser of headed text, shared with the converter.

Text must be valid Unicode: a lone surrogate (possible in decoded JSON, ``"\ud800"``) in an
id, a line or a section is an error naming the record.

:func:`read_songs` picks the format by suffix: ``.jsonl``, ``.ndjson`` and ``.json`` (any
case) are JSON lines, anything else is one plain-text song (one lyric line per line), and
``-`` (standard input) is JSON lines when its first non-blank line is a JSON object (or
starts one nested too deeply to read, which is then an error). A UTF-8 byte-order mark is
accepted in both formats. A file whose content contradicts its suffix is one error that says
how to fix it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lyricseg.sections import SectionMap, default_section_map
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.io import atomic_write

#: Suffixes (compared lowercased) of files read as JSON lines; anything else is plain text.
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_BOM = b"\xef\xbb\xbf"
_STDIN = "<stdin>"
#: What header lines of a plain-text song become: taken out (``strip``) or kept as lyrics.
HEADER_MODES = ("strip", "keep")


class DataError(LyricsegError):
    """A corpus or song file that cannot be used as it is."""


@dataclass(frozen=True)
class Song:
    """One song, its non-blank lines and what is known about them.

    Attributes:
        id: Song identifier.
        lines: The non-blank lines, stripped.
        labels: One label per line (0 verse, 1 chorus), or None when unknown.
        breaks: Indices of the lines a blank line stood before (stanza breaks), sorted, in
            ``[1, len(lines))``; None when unknown (see the module docstring).
        sections: The section header above each line as written, or None when unknown.
        breaks_complete: Whether ``breaks`` are all the song's stanza breaks (what a text's
            blank lines say: no blank line, no break). False when they are only some of them,
            so the other lines are "unknown", not "no break" (see
            :func:`~lyricseg.data.batching.break_flags`).
    """

    id: str
    lines: tuple[str, ...]
    labels: tuple[int, ...] | None = None
    breaks: tuple[int, ...] | None = None
    sections: tuple[str, ...] | None = None
    breaks_complete: bool = True

    def __len__(self) -> int:
        return len(self.lines)


def check_unicode(value: str, what: str, where: str) -> None:
    r"""Refuse text that is not valid Unicode (a lone surrogate such as ``"\ud800"``).

    Such text decodes from JSON escapes but cannot be written back as UTF-8, so it would
    fail only after the work is done.

    Raises:
        DataError: Naming ``where`` and ``what`` (``"'lines' item 3"``).
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise DataError(
            f"{where}: {what} holds a lone surrogate (U+{ord(value[err.start]):04X} at "
            f"character {err.start + 1}); text must be valid Unicode"
        ) from None


def check_header_mode(value: object, where: str = "headers") -> str:
    """Validate a ``headers`` option (see :data:`HEADER_MODES`).

    Raises:
        DataError: For any other value.
    """
    if value not in HEADER_MODES:
        raise DataError(f"{where}: {value!r} is not one of {', '.join(HEADER_MODES)}")
    return str(value)


def split_lines(text: str) -> list[str]:
    r"""Split text into lines at ``\n`` and ``\r\n`` only, unlike :meth:`str.splitlines`.

    A final newline ends the last line rather than starting an empty one.
    """
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if len(lines) > 1 and not lines[-1]:
        lines.pop()
    return lines


@dataclass
class Block:
    """Lyric lines under one header of a text (the first block: those above any header).

    Attributes:
        header: The header as written, without markup and credits (``""`` for the first
            block, or for ``[]``).
        lineno: 1-based line of the header in the text (1 for the first block).
        header_line: Whether a header line opens the block (False for the first block).
        lines: The block's lyric lines, stripped.
        blank_before: Per line, whether a blank line stood right before it.
    """

    header: str
    lineno: int
    header_line: bool
    lines: list[str] = field(default_factory=list)
    blank_before: list[bool] = field(default_factory=list)


def parse_blocks(
    lines: Iterable[str | None], section_map: SectionMap | None, any_bracketed: bool = True
) -> list[Block]:
    """Split the lines of a text into blocks at its header lines.

    Args:
        lines: The text's lines; None marks a line a caller removed (a page artifact),
            which is skipped without marking a break.
        section_map: Recognises header lines (:meth:`SectionMap.read_header`); None reads
            every line as a lyric line.
        any_bracketed: Take every bracketed line as a header, also one no rule knows (the
            converter's convention); False for lyrics given for prediction.

    Returns:
        The blocks in order; the first (``header_line`` False) may be empty.
    """
    blocks = [Block("", 1, header_line=False)]
    blank = False
    for lineno, text in enumerate(lines, start=1):
        if text is None:
            continue
        line = text.strip()
        if not line:
            blank = True
            continue
        header = None if section_map is None else section_map.read_header(line, any_bracketed)
        if header is not None:
            blocks.append(Block(header, lineno, header_line=True))
        else:
            blocks[-1].lines.append(line)
            blocks[-1].blank_before.append(blank)
        blank = False
    return blocks


@dataclass(frozen=True)
class FlatBlocks:
    """Blocks laid out line by line (see :func:`flatten_blocks`).

    Attributes:
        lines: ``[T]`` the lyric lines.
        sections: ``[T]`` the header of each line's block.
        breaks: Lines (never 0) that a blank line or a header line stood before.
        header_above: ``[T]`` whether a header line stood right above the line.
    """

    lines: tuple[str, ...]
    sections: tuple[str, ...]
    breaks: tuple[int, ...]
    header_above: tuple[bool, ...]


def flatten_blocks(blocks: Sequence[Block]) -> FlatBlocks:
    """Lay blocks out line by line; a header line with no lyrics under it adds nothing."""
    lines: list[str] = []
    sections: list[str] = []
    breaks: list[int] = []
    header_above: list[bool] = []
    for block in blocks:
        for j, text in enumerate(block.lines):
            above = block.header_line and j == 0
            if lines and (above or block.blank_before[j]):
                breaks.append(len(lines))
            lines.append(text)
            sections.append(block.header)
            header_above.append(above)
    return FlatBlocks(tuple(lines), tuple(sections), tuple(breaks), tuple(header_above))


def is_jsonl_path(path: str | Path) -> bool:
    """Whether a file name's suffix says JSON lines (see :data:`JSONL_SUFFIXES`)."""
    return Path(str(path)).suffix.lower() in JSONL_SUFFIXES


def _non_blank(lines: Sequence[str]) -> tuple[list[int], tuple[int, ...]]:
    """Positions of the non-blank lines and the stanza breaks the blank ones leave.

    Returns:
        ``(keep, breaks)``: indices into ``lines`` of the non-blank lines, and indices into
        the kept lines of those a blank line stood before (never 0).
    """
    keep: list[int] = []
    breaks: list[int] = []
    after_blank = False
    for i, line in enumerate(lines):
        if not line.strip():
            after_blank = True
            continue
        if after_blank and keep:
            breaks.append(len(keep))
        after_blank = False
        keep.append(i)
    return keep, tuple(breaks)


def _check_breaks(value: object, n: int, song_id: str, where: str) -> tuple[int, ...]:
    """Validate an explicit ``breaks`` list against ``n`` kept lines."""
    if not isinstance(value, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in value
    ):
        raise DataError(f"{where}: 'breaks' must be a list of line indices")
    bad = [x for x in value if not 1 <= x < n]
    if bad:
        raise DataError(
            f"{where}: song '{song_id}' has break {bad[0]}; breaks must be indices of its "
            f"non-blank lines in [1, {n})"
        )
    if any(b <= a for a, b in zip(value, value[1:], strict=False)):
        raise DataError(f"{where}: song '{song_id}' has 'breaks' not sorted and unique")
    return tuple(value)


def parse_record(obj: object, where: str, require_labels: bool) -> Song:
    """Validate one decoded record (``id``, ``lines``, optional ``labels``/``sections``/``breaks``).

    Raises:
        DataError: Naming ``where`` (``file:line``, or a song's position) and what is wrong.
    """
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("id", "lines"):
        if key not in obj:
            raise DataError(f"{where}: missing key '{key}'")
    if require_labels and "labels" not in obj:
        raise DataError(f"{where}: missing key 'labels' (required for training data)")
    song_id, lines, labels = obj["id"], obj["lines"], obj.get("labels")
    sections = obj.get("sections")
    if not isinstance(song_id, str | int) or isinstance(song_id, bool):
        raise DataError(f"{where}: 'id' must be a string")
    if isinstance(song_id, str):
        check_unicode(song_id, "'id'", where)
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise DataError(f"{where}: 'lines' must be a list of strings")
    for i, line in enumerate(lines, start=1):
        check_unicode(line, f"'lines' item {i}", where)
    if labels is not None:
        if not isinstance(labels, list):
            raise DataError(f"{where}: 'labels' must be a list of 0/1")
        if len(labels) != len(lines):
            raise DataError(
                f"{where}: song '{song_id}' has {len(lines)} lines but {len(labels)} labels"
            )
        bad = [x for x in labels if isinstance(x, bool) or x not in (0, 1)]
        if bad:
            raise DataError(
                f"{where}: song '{song_id}' has label {bad[0]!r}; labels must be 0 or 1"
            )
    if sections is not None:
        if not isinstance(sections, list) or not all(isinstance(x, str) for x in sections):
            raise DataError(f"{where}: 'sections' must be a list of strings")
        for i, section in enumerate(sections, start=1):
            check_unicode(section, f"'sections' item {i}", where)
        if len(sections) != len(lines):
            raise DataError(
                f"{where}: song '{song_id}' has {len(lines)} lines but {len(sections)} sections"
            )
    keep, breaks = _non_blank(lines)
    if not keep:
        raise DataError(f"{where}: song '{song_id}' has no lines")
    blank = len(keep) < len(lines)
    if obj.get("breaks") is not None:
        given = _check_breaks(obj["breaks"], len(keep), str(song_id), where)
        if blank and given != breaks:
            raise DataError(
                f"{where}: song '{song_id}' has 'breaks' {list(given)} but its blank lines "
                f"mark {list(breaks)}; give stanza breaks one way (blank lines or 'breaks')"
            )
        breaks = given
    elif not blank:
        breaks = None
    complete = obj.get("breaks_complete", True)
    if not isinstance(complete, bool):
        raise DataError(f"{where}: 'breaks_complete' must be true or false")
    if not complete and breaks is None:
        raise DataError(
            f"{where}: song '{song_id}' has 'breaks_complete' false but no stanza breaks"
        )
    return Song(
        id=str(song_id),
        lines=tuple(lines[i].strip() for i in keep),
        labels=None if labels is None else tuple(int(labels[i]) for i in keep),
        breaks=breaks,
        sections=None if sections is None else tuple(sections[i] for i in keep),
        breaks_complete=complete,
    )


def _json_object(raw: bytes) -> dict | None:
    """The JSON object on one line, or None when the line is not one."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _opens_json_object(raw: bytes) -> bool:
    """Whether a line is a JSON object, or starts one nested too deeply to decode."""
    try:
        return isinstance(json.loads(raw), dict)
    except RecursionError:
        return raw.lstrip().startswith(b"{")
    except (ValueError, UnicodeDecodeError):
        return False


def _first_non_blank(data: bytes) -> tuple[int, bytes] | None:
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if raw.strip():
            return lineno, raw
    return None


def parse_jsonl_bytes(data: bytes, name: str, require_labels: bool = True) -> list[Song]:
    """Parse and validate a JSONL corpus held in memory.

    Args:
        data: The file's bytes (a leading UTF-8 byte-order mark is ignored).
        name: File name used in error messages.
        require_labels: Whether every record must carry ``labels``.

    Returns:
        The songs in file order.

    Raises:
        DataError: On the first invalid line, naming the file and the 1-based line number;
            when the first non-blank line does not even start like a JSON object, the error
            says that the file is not JSON lines.
    """
    data = data.removeprefix(_BOM)
    first = _first_non_blank(data)
    if first is not None and not first[1].lstrip().startswith(b"{"):
        raise DataError(
            f"{name}:{first[0]}: expected JSON lines (one JSON object per line, e.g. "
            '{"id": "song-1", "lines": [...]}) but this line is not a JSON object; a '
            "plain-text song (one lyric line per line) needs another suffix, e.g. .txt"
        )
    songs: list[Song] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(f"{where}: invalid UTF-8 ({err.reason} at byte {err.start})") from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: malformed JSON ({err.msg} at column {err.colno})") from None
        except ValueError as err:  # e.g. an integer longer than Python converts
            raise DataError(f"{where}: malformed JSON ({err})") from None
        except RecursionError:
            raise DataError(f"{where}: malformed JSON (nested too deeply)") from None
        song = parse_record(obj, where, require_labels)
        if song.id in seen:
            raise DataError(
                f"{where}: duplicate id '{song.id}' (first seen on line {seen[song.id]})"
            )
        seen[song.id] = lineno
        songs.append(song)
    if not songs:
        raise DataError(f"{name}: no songs found")
    return songs


def parse_text_bytes(data: bytes, name: str, song_id: str, headers: str = "strip") -> Song:
    """Parse one plain-text song held in memory, one lyric line per line.

    Blank lines (and, with ``headers="strip"``, header lines) are dropped and become
    :attr:`Song.breaks`; the headers become :attr:`Song.sections`. See the module docstring.

    Args:
        data: The file's bytes (a leading UTF-8 byte-order mark is ignored).
        name: File name used in error messages.
        song_id: The song's id.
        headers: ``strip`` (header lines are taken out) or ``keep`` (they are lyrics).

    Raises:
        DataError: On invalid UTF-8 (naming the line), an invalid ``headers`` value or a
            song without lyric lines.
    """
    check_header_mode(headers)
    data = data.removeprefix(_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        lineno = data[: err.start].count(b"\n") + 1
        raise DataError(f"{name}:{lineno}: invalid UTF-8 ({err.reason})") from None
    check_unicode(song_id, "the song id", name)
    if headers == "strip":
        blocks = parse_blocks(split_lines(text), default_section_map(), any_bracketed=False)
    else:
        blocks = parse_blocks(split_lines(text), None)
    flat = flatten_blocks(blocks)
    if not flat.lines:
        raise DataError(f"{name}: the song has no lines")
    return Song(
        id=song_id,
        lines=flat.lines,
        breaks=flat.breaks or None,
        sections=flat.sections if len(blocks) > 1 else None,
    )


def _read_bytes(path: str | Path) -> tuple[bytes, str]:
    """The bytes of a file, or of standard input for ``-``, and the name for messages."""
    if str(path) == "-":
        return sys.stdin.buffer.read(), _STDIN
    try:
        return Path(path).read_bytes(), str(path)
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from None


def read_jsonl(path: str | Path, require_labels: bool = True) -> list[Song]:
    """Read and validate a JSONL corpus file (see :func:`parse_jsonl_bytes`)."""
    data, name = _read_bytes(path)
    return parse_jsonl_bytes(data, name, require_labels)


def read_txt(path: str | Path, song_id: str | None = None, headers: str = "strip") -> Song:
    """Read one song from a text file, one lyric line per line; ``-`` reads standard input.

    ``headers`` is as for :func:`parse_text_bytes`.
    """
    data, name = _read_bytes(path)
    default_id = "stdin" if name == _STDIN else Path(path).stem
    return parse_text_bytes(data, name, song_id or default_id, headers)


def _looks_like_jsonl(data: bytes) -> bool:
    """Whether every non-blank line is a JSON object with a ``lines`` key."""
    rows = [raw for raw in data.removeprefix(_BOM).split(b"\n") if raw.strip()]
    return bool(rows) and all("lines" in (_json_object(raw) or {}) for raw in rows)


def read_songs(
    path: str | Path, require_labels: bool = False, headers: str = "strip"
) -> list[Song]:
    """Read songs from a JSONL corpus or one plain-text song, by suffix (``-``: by content).

    See the module docstring for the rules; ``headers`` applies to a plain-text song (see
    :func:`parse_text_bytes`); JSONL records keep their lines as given.

    Raises:
        DataError: On unreadable or invalid input, or when a file's content contradicts its
            suffix (a JSON-lines suffix on a file that is not JSON lines, or a plain-text
            file made of JSON records).
    """
    check_header_mode(headers)
    data, name = _read_bytes(path)
    if name == _STDIN:
        first = _first_non_blank(data.removeprefix(_BOM))
        if first is not None and _opens_json_object(first[1]):
            return parse_jsonl_bytes(data, name, require_labels)
        return [parse_text_bytes(data, name, "stdin", headers)]
    if is_jsonl_path(path):
        return parse_jsonl_bytes(data, name, require_labels)
    if _looks_like_jsonl(data):
        raise DataError(
            f"{name}: expected one plain-text song (the name does not end in "
            f"{'/'.join(JSONL_SUFFIXES)}) but every line is a JSON song record; rename the "
            "file to .jsonl to read it as a corpus"
        )
    return [parse_text_bytes(data, name, Path(path).stem, headers)]


def write_jsonl(path: str | Path, songs: Sequence[Song]) -> None:
    """Write songs as a JSONL corpus, atomically (``breaks``/``sections`` when known)."""
    with atomic_write(path) as handle:
        for song in songs:
            record: dict[str, object] = {"id": song.id, "lines": list(song.lines)}
            if song.labels is not None:
                record["labels"] = list(song.labels)
            if song.sections is not None:
                record["sections"] = list(song.sections)
            if song.breaks is not None:
                record["breaks"] = list(song.breaks)
                if not song.breaks_complete:
                    record["breaks_complete"] = False
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
