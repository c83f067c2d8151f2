"""Song records and their readers: JSONL corpora and plain-text songs.

A corpus file holds one JSON object per line::

    {"id": "song-1", "lines": ["first line", ...], "labels": [0, 1, ...]}

``labels`` (0 = verse, 1 = chorus) is required for training and optional for prediction.
Blank lyric lines (empty after stripping whitespace) are dropped together with their labels,
the same way at train and predict time, so a blank line never reaches the features.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from lyricseg.utils.errors import LyricsegError


class DataError(LyricsegError):
    """A corpus or song file that cannot be used as it is."""


@dataclass(frozen=True)
class Song:
    """One song: its lines and, when known, one label per line (0 verse, 1 chorus)."""

    id: str
    lines: tuple[str, ...]
    labels: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.lines)


def _drop_blank(lines: list[str], labels: list[int] | None) -> tuple[tuple[str, ...], tuple | None]:
    keep = [i for i, line in enumerate(lines) if line.strip()]
    kept_lines = tuple(lines[i].strip() for i in keep)
    kept_labels = None if labels is None else tuple(int(labels[i]) for i in keep)
    return kept_lines, kept_labels


def _parse_record(obj: object, where: str, require_labels: bool) -> Song:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("id", "lines"):
        if key not in obj:
            raise DataError(f"{where}: missing key '{key}'")
    if require_labels and "labels" not in obj:
        raise DataError(f"{where}: missing key 'labels' (required for training data)")
    song_id, lines, labels = obj["id"], obj["lines"], obj.get("labels")
    if not isinstance(song_id, str | int) or isinstance(song_id, bool):
        raise DataError(f"{where}: 'id' must be a string")
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise DataError(f"{where}: 'lines' must be a list of strings")
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
    kept_lines, kept_labels = _drop_blank(lines, labels)
    if not kept_lines:
        raise DataError(f"{where}: song '{song_id}' has no lines")
    return Song(id=str(song_id), lines=kept_lines, labels=kept_labels)


def parse_jsonl_bytes(data: bytes, name: str, require_labels: bool = True) -> list[Song]:
    """Parse and validate a JSONL corpus held in memory.

    Args:
        data: The file's bytes.
        name: File name used in error messages.
        require_labels: Whether every record must carry ``labels``.

    Returns:
        The songs in file order.

    Raises:
        DataError: On the first invalid line, naming the file and the 1-based line number.
    """
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
        song = _parse_record(obj, where, require_labels)
        if song.id in seen:
            raise DataError(
                f"{where}: duplicate id '{song.id}' (first seen on line {seen[song.id]})"
            )
        seen[song.id] = lineno
        songs.append(song)
    if not songs:
        raise DataError(f"{name}: no songs found")
    return songs


def read_jsonl(path: str | Path, require_labels: bool = True) -> list[Song]:
    """Read and validate a JSONL corpus file (see :func:`parse_jsonl_bytes`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from None
    return parse_jsonl_bytes(data, str(path), require_labels)


def read_txt(path: str | Path, song_id: str | None = None) -> Song:
    """Read one song from a text file, one lyric line per line; ``-`` reads standard input."""
    name = "<stdin>" if str(path) == "-" else str(path)
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else Path(path).read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {name}: {err.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        lineno = data[: err.start].count(b"\n") + 1
        raise DataError(f"{name}:{lineno}: invalid UTF-8 ({err.reason})") from None
    lines, _ = _drop_blank(text.splitlines(), None)
    if not lines:
        raise DataError(f"{name}: the song has no lines")
    default_id = "stdin" if name == "<stdin>" else Path(path).stem
    return Song(id=song_id or default_id, lines=lines)


def read_songs(path: str | Path, require_labels: bool = False) -> list[Song]:
    """Read ``.jsonl`` (a corpus) or any other file / ``-`` as one plain-text song."""
    if str(path).endswith(".jsonl"):
        return read_jsonl(path, require_labels=require_labels)
    return [read_txt(path)]


def write_jsonl(path: str | Path, songs: list[Song]) -> None:
    """Write songs as a JSONL corpus, atomically."""
    from lyricseg.utils.io import atomic_write

    with atomic_write(path) as handle:
        for song in songs:
            record = {"id": song.id, "lines": list(song.lines)}
            if song.labels is not None:
                record["labels"] = list(song.labels)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
