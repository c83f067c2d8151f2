"""The by-artist development split of a stanza corpus (songs with blank lines, no labels).

    python -m lyricseg.commands.stanzas --source DIR OUT_DIR

A stanza corpus (``train.jsonl`` of ``{"id", "lines"}`` records, ``""`` between stanzas, and
``train.meta.jsonl`` naming each song's ``artist``) is split by artist: an artist's songs are
all held out or all kept, so a model trained on the kept songs is scored on singers and
writers it has never read. Whether an artist is held out depends only on a hash of its
normalized name, so the split is the same on every machine and for every subset of the
corpus, and training (which must leave the held-out artists out) and the stanza bench
(which scores them) agree without sharing a file.

The command writes ``OUT_DIR/train.jsonl`` (kept artists) and ``OUT_DIR/val.jsonl``
(held-out artists) in the corpus format, with stanza breaks as ``breaks``, plus
``OUT_DIR/split.json`` saying what was split and how.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lyricseg.data.songs import DataError, Song, read_jsonl, write_jsonl
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.io import atomic_write_json

#: Share of artists held out (by hash, so the share of songs varies around it).
HELD_OUT_SHARE = 0.2
#: Salt of the artist hash: changing it draws another split.
SPLIT_SALT = "lyricseg-stanzas-v1"


def artist_key(artist: str) -> str:
    """An artist's name as the split compares it (case, spacing and a leading "The" ignored)."""
    key = " ".join(artist.casefold().split())
    return key[4:] if key.startswith("the ") else key


def held_out_artist(artist: str, share: float = HELD_OUT_SHARE, salt: str = SPLIT_SALT) -> bool:
    """Whether an artist's songs belong to the held-out part (a stable hash, not ``hash()``)."""
    digest = hashlib.sha256(f"{salt}\0{artist_key(artist)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def stanza_split(
    records: Sequence[Song],
    meta: Mapping[str, str] | Sequence[Mapping[str, Any]],
    share: float = HELD_OUT_SHARE,
) -> tuple[list[Song], list[Song]]:
    """Split songs by artist into kept (training) and held-out songs, order preserved.

    Args:
        records: The songs.
        meta: Each song's artist: a mapping from song id to artist, or the metadata
            records (``{"id", "artist", ...}``) of ``train.meta.jsonl``.
        share: Share of artists held out.

    Returns:
        ``(train, held_out)``.

    Raises:
        DataError: When a song has no artist in ``meta``.
    """
    artists = dict(meta) if isinstance(meta, Mapping) else {str(m["id"]): m["artist"] for m in meta}
    train: list[Song] = []
    held: list[Song] = []
    for song in records:
        artist = artists.get(str(song.id))
        if not isinstance(artist, str):
            raise DataError(f"song '{song.id}' has no artist in the metadata; cannot split it")
        (held if held_out_artist(artist, share) else train).append(song)
    return train, held


#: The metadata file beside a stanza corpus's ``train.jsonl``: one ``{"id", "artist"}`` per song.
META_FILE = "train.meta.jsonl"


def read_stanza_meta(meta_file: Path) -> list[dict[str, Any]]:
    """The records of a metadata file (``train.meta.jsonl``), one JSON object per line.

    Raises:
        LyricsegError: When the file is missing or malformed.
    """
    try:
        text = meta_file.read_text(encoding="utf-8")
    except OSError as err:
        raise LyricsegError(f"cannot read {meta_file}: {err.strerror or err}") from None
    meta = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{meta_file}:{number}: malformed JSON"
        try:
            meta.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise LyricsegError(f"{where} ({err})") from None
        except RecursionError:
            raise LyricsegError(f"{where} (nested too deeply)") from None
    return meta


def read_stanza_corpus(source: Path) -> tuple[list[Song], list[dict[str, Any]]]:
    """The songs of ``source/train.jsonl`` and the records of ``source/train.meta.jsonl``.

    Raises:
        LyricsegError: When a file is missing or malformed.
    """
    songs = read_jsonl(source / "train.jsonl", require_labels=False)
    return songs, read_stanza_meta(source / META_FILE)


def write_stanza_split(source: Path, out: Path, share: float = HELD_OUT_SHARE) -> dict[str, Any]:
    """Write ``out/train.jsonl``, ``out/val.jsonl`` and ``out/split.json`` (see the module).

    Returns:
        What ``split.json`` holds: source, share, salt and song/artist counts per part.

    Raises:
        LyricsegError: When the source cannot be read, or ``out`` is the source folder.
    """
    if out.resolve() == source.resolve():
        raise LyricsegError(f"the split would overwrite its source {source}; name another folder")
    songs, meta = read_stanza_corpus(source)
    train, held = stanza_split(songs, meta, share)
    artists = {str(m["id"]): artist_key(m["artist"]) for m in meta}
    summary = {
        "source": str(source),
        "held_out_share": share,
        "salt": SPLIT_SALT,
        "train": {"songs": len(train), "artists": len({artists[s.id] for s in train})},
        "val": {"songs": len(held), "artists": len({artists[s.id] for s in held})},
    }
    write_jsonl(out / "train.jsonl", train)
    write_jsonl(out / "val.jsonl", held)
    atomic_write_json(out / "split.json", summary)
    return summary
