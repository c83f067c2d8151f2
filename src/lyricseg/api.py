r"""Python API: segment lyrics without training.

>>> from lyricseg import Segmenter
>>> seg = Segmenter.load()  # the model shipped with lyricseg; Segmenter.load(PATH) for another
>>> song = seg("Walking down the empty road\nHold on, hold on\n\nHold on, hold on\nNever go")
>>> song.lines
('Walking down the empty road', 'Hold on, hold on', 'Hold on, hold on', 'Never go')
>>> len(song.labels) == len(song.probs) == len(song) == 4
True
>>> set(song.labels) <= {0, 1} and all(0.0 <= p <= 1.0 for p in song.probs)
True

Blank lines are stanza breaks: they are dropped from ``lines`` and tell the model where
stanzas end, exactly as in a plain-text song file:

>>> song.breaks  # the third line follows a blank line
(2,)

Header lines in the text (``[Chorus]``, ``(Chorus)``, ``Verse 1:``, ``#CHORUS``) are not
lyrics: they are taken out, count as stanza breaks and come back as ``given_sections``
beside the model's reading (``Segmenter.load(headers="keep")`` reads them as lyrics):

>>> headed = seg("[Verse 1]\nWalking down the empty road\n(Chorus)\nHold on, hold on")
>>> headed.lines, headed.given_sections, headed.breaks
(('Walking down the empty road', 'Hold on, hold on'), ('Verse 1', 'Chorus'), (1,))

Many songs at once, as text, lists of lines or mappings with an ``id``:

>>> results = seg.predict_batch(
...     ["La la la\nLa la la", ["First line", "Second line"], {"id": "b-side", "lyrics": "Oh"}]
... )
>>> [(r.id, len(r)) for r in results]
[('song-1', 2), ('song-2', 2), ('b-side', 1)]
>>> results[2].to_dict()["lines"]
['Oh']

The lyrics with a header above each section, as ``predict.py`` writes tagged text:

>>> tagged = song.to_tagged()
>>> tagged.startswith("[") and [x for x in tagged.splitlines() if x and x[0] != "["]
['Walking down the empty road', 'Hold on, hold on', 'Hold on, hold on', 'Never go']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lyricseg.data.songs import (
    DataError,
    Song,
    check_header_mode,
    check_unicode,
    parse_record,
    parse_text_bytes,
)
from lyricseg.inference import MAX_LINES, Predictor, Segmentation

#: What one song may be given as.
SongInput = str | Sequence[str] | Mapping[str, Any]

__all__ = ["Segmentation", "Segmenter", "SongInput", "song_from_input"]


def song_from_input(item: SongInput, where: str, default_id: str, headers: str = "strip") -> Song:
    """Read one song given as text, a list of lines or a mapping.

    Args:
        item: Lyrics text, read as a plain-text song file is (one line per line, blank lines
            are stanza breaks, header lines as ``headers`` says); a sequence of lines (blank
            ones are stanza breaks; every other one is a lyric line); or a mapping with
            ``"lyrics"`` (text) or ``"lines"`` (a list), and optionally ``"id"`` and
            ``"headers"`` (overrides ``headers`` for this song; other keys of a JSONL
            record, such as ``labels``, are checked as in a corpus file).
        where: Names the song in error messages (``"song 3"``, ``"request[2]"``).
        default_id: The id of a song given without one.
        headers: ``strip`` takes a text's header lines out of its lyrics (they become stanza
            breaks and :attr:`Song.sections`), ``keep`` reads them as lyric lines.

    Raises:
        DataError: When the input is none of the above, holds text that is not valid
            Unicode, or is a song without lines.
    """
    check_header_mode(headers)
    if isinstance(item, str):
        # Lone surrogates (possible in decoded JSON) fail as invalid UTF-8, naming the line.
        return parse_text_bytes(item.encode("utf-8", "surrogatepass"), where, default_id, headers)
    if isinstance(item, Mapping):
        if ("lyrics" in item) == ("lines" in item):
            raise DataError(f"{where}: give either 'lyrics' (text) or 'lines' (a list of strings)")
        song_id = item.get("id", default_id)
        if not isinstance(song_id, str | int) or isinstance(song_id, bool):
            raise DataError(f"{where}: 'id' must be a string")
        check_unicode(str(song_id), "'id'", where)
        mode = check_header_mode(item.get("headers", headers), f"{where}: 'headers'")
        if "lines" in item:
            lines = item["lines"]
            if isinstance(lines, Sequence) and not isinstance(lines, str | bytes | bytearray):
                lines = list(lines)  # a tuple is as good as a list here
            record = {**item, "id": song_id, "lines": lines}
            return parse_record(record, where, require_labels=False)
        if not isinstance(item["lyrics"], str):
            raise DataError(f"{where}: 'lyrics' must be a string")
        return song_from_input(item["lyrics"], where, str(song_id), mode)
    if isinstance(item, Sequence) and not isinstance(item, bytes | bytearray):
        return song_from_input({"lines": item}, where, default_id, headers)
    raise DataError(
        f"{where}: expected lyrics text, a list of lines, or a mapping with 'lyrics' or "
        f"'lines'; got {type(item).__name__}"
    )


class Segmenter:
    """Tags the lines of songs with a trained model (verse/chorus, and sections if known).

    Args:
        predictor: The restored model (see :meth:`load`).
        batch_size: Songs per forward pass in :meth:`predict_batch`.
        headers: What header lines of lyrics text become: ``strip`` (taken out, reported as
            ``given_sections``) or ``keep`` (read as lyric lines); see :func:`song_from_input`.
        convention: The verse/chorus convention to label with, one of the model's
            ``predictor.conventions`` (e.g. ``"lyrics"``, or an extra corpus's name); None
            keeps the predictor's (by default the model's main corpus's).

    Raises:
        LyricsegError: For a convention the model does not know (naming those it does).
    """

    def __init__(
        self,
        predictor: Predictor,
        *,
        batch_size: int = 16,
        headers: str = "strip",
        convention: str | None = None,
    ) -> None:
        if convention is not None and convention != predictor.convention:
            predictor = dataclasses.replace(predictor, convention=convention)
        self.predictor = predictor
        self.batch_size = batch_size
        self.headers = check_header_mode(headers)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        max_lines: int = MAX_LINES,
        batch_size: int = 16,
        headers: str = "strip",
        convention: str | None = None,
    ) -> Segmenter:
        """Load a checkpoint: ``path``, or the model shipped with lyricseg when None.

        Args:
            path: A checkpoint written by training (``best.ckpt``), or None.
            max_lines: Longest song accepted (time and memory grow with its square).
            batch_size: Songs per forward pass.
            headers: ``strip`` or ``keep`` (see the class).
            convention: The verse/chorus convention to label with (see the class).

        Raises:
            LyricsegError: When the checkpoint is missing, unreadable, unsafe or incompatible,
                (``path`` None) when this installation ships no model, or for a convention
                the model does not know.
        """
        check_header_mode(headers)
        predictor = Predictor.from_checkpoint(path, max_lines=max_lines, convention=convention)
        return cls(predictor, batch_size=batch_size, headers=headers)

    def __call__(self, lyrics: SongInput, *, threshold: float | None = None) -> Segmentation:
        """Segment one song (text, a list of lines or a mapping; see :func:`song_from_input`).

        Args:
            lyrics: The song.
            threshold: Decision threshold on P(chorus); None keeps the model's decisions.

        Raises:
            LyricsegError: For a song without lines, or one over the line limit.
        """
        return self.predict_batch([lyrics], threshold=threshold)[0]

    def predict_batch(
        self, items: Iterable[SongInput], *, threshold: float | None = None
    ) -> list[Segmentation]:
        """Segment many songs, in order; a song without an id is ``song-<n>`` (n from 1).

        Args:
            items: Songs as text, lists of lines or mappings (see :func:`song_from_input`).
            threshold: Decision threshold on P(chorus); None keeps the model's decisions.

        Raises:
            LyricsegError: Naming the first song that has no lines, is malformed or is over
                the line limit (nothing is returned then).
        """
        if isinstance(items, str | Mapping):
            raise DataError("predict_batch takes a list of songs; call the Segmenter for one")
        songs = [
            song_from_input(item, f"song {n}", f"song-{n}", self.headers)
            for n, item in enumerate(items, 1)
        ]
        return self.predictor.predict(songs, batch_size=self.batch_size, threshold=threshold)
