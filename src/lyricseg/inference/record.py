"""The prediction record: one song's reading by the model, and its renderings.

As JSON (:meth:`Segmentation.to_dict`, one JSONL line of ``predict.py``)::

    {"id": ..., "lines": [...], "labels": [0|1 per line], "probs": [P(chorus) per line],
     "sections": [class name per line], "section_starts": [line indices], "breaks": [...],
     "given_sections": [header as written per line] | null}

``sections``/``section_starts`` come from a model with section heads; ``breaks`` repeat the
input's stanza breaks when it had any; ``given_sections`` are the input's own headers (the
header lines of a text, or a record's ``sections``), null when it had none. Labels are the
model's own decisions (argmax or its configured decoder); ``probs`` are calibrated when the
checkpoint carries a calibrator.

This module owns the output formats: the JSON record, JSONL, the table and the tagged lyrics,
and the numbered section names (``Verse 2``) they and the service's page show.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lyricseg.sections import default_section_map

#: Keys of a prediction record that :class:`Segmentation` holds as fields, and ``spans``,
#: which it derives from them.
_FIELDS = (
    "id", "lines", "labels", "probs", "sections", "section_starts", "breaks", "given_sections",
    "spans",
)  # fmt: skip


@dataclass(frozen=True)
class Span:
    """One section of a song: lines ``start`` to ``end`` (exclusive) of one class.

    Attributes:
        name: The section class (``"verse"``, ``"chorus"``, …).
        header: Its tagged-text header, numbered for numbered classes (``"Verse 2"``).
        start: Index of its first line.
        end: Index after its last line.
    """

    name: str
    header: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "header", "start", "end"}``, as the service answers it."""
        return asdict(self)


@dataclass(frozen=True)
class Segmentation:
    """The model's reading of one song.

    Attributes:
        id: The song's id (given, or ``song-<n>`` by position, from 1).
        lines: ``[T]`` the non-blank lines, stripped.
        labels: ``[T]`` 0 (verse) or 1 (chorus) per line: the model's decisions.
        probs: ``[T]`` P(chorus) per line, calibrated when the model carries a calibrator.
        sections: ``[T]`` section class per line, or None for a model without section heads.
        section_starts: Indices of the lines that start a section, or None (no section heads).
        breaks: Indices of the lines a blank line (or a header line) stood before in the
            input (stanza breaks), or None when the input did not say (no blank line between
            lyric lines).
        given_sections: ``[T]`` the input's own header above each line as written (``""``
            above the first one), or None when the input had no headers.
        extra: Any other field of a record read back (:meth:`from_record`), kept for
            :meth:`to_dict`.
    """

    id: str
    lines: tuple[str, ...]
    labels: tuple[int, ...]
    probs: tuple[float, ...]
    sections: tuple[str, ...] | None = None
    section_starts: tuple[int, ...] | None = None
    breaks: tuple[int, ...] | None = None
    given_sections: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Segmentation:
        """Read back a record as :meth:`to_dict` writes it.

        A JSONL line of ``predict.py`` or an answer of the service (whose ``spans`` are
        derived again, not kept).
        """

        def seq(key: str) -> tuple[Any, ...] | None:
            value = record.get(key)
            return None if value is None else tuple(value)

        return cls(
            id=str(record["id"]),
            lines=tuple(record["lines"]),
            labels=tuple(record["labels"]),
            probs=tuple(record["probs"]),
            sections=seq("sections"),
            section_starts=seq("section_starts"),
            breaks=seq("breaks"),
            given_sections=seq("given_sections"),
            extra={k: v for k, v in record.items() if k not in _FIELDS},
        )

    def __len__(self) -> int:
        return len(self.lines)

    def to_dict(self, *, spans: bool = False) -> dict[str, Any]:
        """The record ``predict.py`` writes as one JSONL line.

        Args:
            spans: Also give the sections with their names (``"spans"``, see :meth:`spans`),
                as the service answers.
        """
        record: dict[str, Any] = {
            "id": self.id,
            "lines": list(self.lines),
            "labels": list(self.labels),
            "probs": list(self.probs),
        }
        if self.sections is not None:
            record["sections"] = list(self.sections)
        if self.section_starts is not None:
            record["section_starts"] = list(self.section_starts)
        if self.breaks is not None:
            record["breaks"] = list(self.breaks)
        given = self.given_sections
        record["given_sections"] = None if given is None else list(given)
        record = {**record, **self.extra}
        if spans:
            record["spans"] = [span.to_dict() for span in self.spans()]
        return record

    def spans(self) -> list[Span]:
        """The song's sections in order, each with its header (``Verse 1``, ``Chorus``, …).

        From the predicted ``sections``/``section_starts`` when present, else from the
        verse/chorus labels (each run of equal labels is a verse or a chorus). Numbered
        classes (verses) count up through the song.
        """
        section_map = default_section_map()
        n = len(self.lines)
        if self.sections is not None:
            names: Sequence[str] = self.sections
            starts = sorted(set(self.section_starts or []) | {0})
        else:  # label 1 reads as the map's first chorus class, label 0 as its first numbered one
            chorus = next(c for c in section_map.classes if c in section_map.chorus_classes)
            verse = next(c for c in section_map.classes if c in section_map.numbered_classes)
            labels = self.labels
            names = [chorus if label else verse for label in labels]
            starts = [i for i in range(n) if i == 0 or labels[i] != labels[i - 1]]
        ends = [*starts[1:], n]
        counts: dict[str, int] = {}
        spans = []
        for start, end in zip(starts, ends, strict=True):
            if start >= n:
                continue
            name = names[start]
            counts[name] = counts.get(name, 0) + 1
            spans.append(Span(name, section_map.header(name, counts[name]), start, end))
        return spans

    def to_table(self) -> str:
        """A readable table: line number, label, P(chorus), section, given header, line.

        With a section column when predicted, and a ``given`` column (the input's own
        headers, cut to 16 characters) when the input had headers.
        """
        sections = self.sections
        given = self.given_sections
        head = f"{'#':>4}  {'label':<6} {'P(chorus)':>9}  "
        head += f"{'section':<11} " if sections else ""
        head += f"{'given':<16} " if given else ""
        rows = [head + "line"]
        for i, (line, label, prob) in enumerate(
            zip(self.lines, self.labels, self.probs, strict=True)
        ):
            row = f"{i + 1:>4}  {('chorus' if label else 'verse'):<6} {prob:>9.3f}  "
            if sections:
                row += f"{sections[i]:<11} "
            if given:
                row += f"{given[i][:16]:<16} "
            rows.append(row + line)
        return "\n".join(rows)

    def to_tagged(self) -> str:
        """The lyrics with a header above each section (``[Verse 1]``, ``[Chorus]``, …).

        Sections are separated by a blank line.
        """
        blocks = [
            "\n".join([f"[{span.header}]", *self.lines[span.start : span.end]])
            for span in self.spans()
        ]
        return "\n\n".join(blocks) + "\n"


def format_songs(records: Sequence[Segmentation], render: Callable[[Segmentation], str]) -> str:
    """Songs as one text, each rendered by ``render`` (``Segmentation.to_table``, ``.to_tagged``).

    One song is its rendering alone. Several are separated by a blank line, each under a
    ``==> <id> <==`` line (as ``head`` separates files), so that they can be told apart.
    """
    texts = [render(r).rstrip("\n") for r in records]
    if len(records) > 1:
        texts = [f"==> {r.id} <==\n{text}" for r, text in zip(records, texts, strict=True)]
    return "\n\n".join(texts) + "\n"


def format_jsonl(records: Sequence[Segmentation]) -> str:
    """Prediction records as strict JSONL (no NaN/inf), one line per record."""
    return "".join(
        json.dumps(r.to_dict(), ensure_ascii=False, allow_nan=False) + "\n" for r in records
    )
