"""Section vocabulary: header names -> section classes, read from one YAML file.

Every section name lyricseg knows is spelled out in the packaged ``sections.yaml`` (next to
this module); the converter, training and the section metrics all go through
:class:`SectionMap`. A header such as ``"[Chorus 2 x2: Singer]"`` is normalized (credits,
brackets, parenthesized parts, multipliers, numbers and case removed), split into parts at
``/``, ``&``, ``+``, ``|``, ``,`` and spaced dashes, and matched against the YAML's ordered
rules; see ``docs/sections.md``.

This is the ground floor of lyricseg (it imports only :mod:`lyricseg.utils`). The map's
``classes`` are the vocabulary of the models trained with it: training gives the list to the
network (``section_classes``) and the checkpoint stores it, so a model names its section
classes from its own list, never from today's ``sections.yaml``.

In lyrics *text*, :meth:`SectionMap.read_header` tells a header line from a lyric line: any
line that is one bracketed group (``[Chorus x2: Singer]``, also ``[Chorus] x2``), and a line
marked as a header (parentheses around it, a trailing colon, leading ``#``, a multiplier)
whose content names a known section: ``(Chorus)``, ``Verse 1:``, ``#CHORUS``, ``Chorus x2``,
``Estribillo:``. ``(oh oh oh)`` or ``Listen:`` stay lyrics.

Section starts are derived from headers *as written*: a line starts a section when its
header differs from the previous line's (``Verse 1`` -> ``Verse 2`` is a start). Where the
header lines themselves are gone (the ``extra`` corpus, or any record with only
``sections``), two consecutive blocks with the same header (``Chorus``, ``Chorus``) cannot
be told apart and count as one section.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lyricseg.utils.errors import LyricsegError

#: Class id given to lines whose header is unmapped or missing (ignored by class metrics).
UNKNOWN_CLASS = -1

_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_PARENS = re.compile(r"\([^()]*\)")
_OPEN_PAREN = re.compile(r"\([^()]*$")
_MULTIPLIER = re.compile(
    r"\(\s*(?:[x\u00d7]\s*\d+|\d+\s*[x\u00d7])\s*\)"  # (x2), (2x)
    r"|(?<![a-z0-9])x\s*\d+\b|\b\d+\s*x(?![a-z0-9])"  # x2, 2x
    r"|\u00d7\s*\d+|\d+\s*\u00d7|\*\s*\d+",  # \u00d72, 2\u00d7, *2
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+|\b(?:i{1,3}|iv|vi{0,3}|ix|x)\b")
_SPLIT = re.compile(r"\s*[/&+|,]\s*|\s+-\s+")
_SPACES = re.compile(r"\s+")
_EDGE = " \t-.#*:;'\"!?"
_TRAILING_MULTIPLIER = re.compile(
    r"\s*(?:\(\s*(?:[x\u00d7]\s*\d+|\d+\s*[x\u00d7])\s*\)"  # (x2), (2x)
    r"|(?<![a-z0-9])[x\u00d7*]\s*\d+|(?<![a-z0-9])\d+\s*[x\u00d7])$",  # x2, *2, 2x
    re.IGNORECASE,
)
_TOP_KEYS = {"version", "classes", "chorus_classes", "numbered_classes", "qualifiers", "rules"}
#: A line longer than this (characters) is never a header, and a header longer than this names
#: no section: real headers are short, and the cap bounds the matching work per line.
MAX_HEADER_CHARS = 200
_RULE_KEYS = {"class", "patterns"}


def default_map_path() -> Path:
    """Path of the packaged ``sections.yaml``."""
    return Path(str(resources.files("lyricseg").joinpath("sections.yaml")))


def cut_credits(header: str) -> str:
    """A header as written, without surrounding brackets and singer credits after ``:``.

    Args:
        header: Header text, with or without its ``[...]`` brackets.

    Returns:
        E.g. ``"Chorus x2"`` for ``"[Chorus x2: Singer & Other]"``.
    """
    text = header.strip()
    if text.startswith("["):
        text = text[1:]
        if text.endswith("]"):
            text = text[:-1]
    return text.split(":", 1)[0].strip()


def strip_multipliers(header: str) -> str:
    """Remove repeat multipliers (``x2``, ``2x``, ``(x3)``, ``*2``) and collapse spaces."""
    return _SPACES.sub(" ", _MULTIPLIER.sub(" ", header)).strip()


def normalize_header(header: str) -> str:
    """Normalize a header for matching (what the YAML patterns see, before splitting).

    Credits after ``:`` and brackets are cut, the text is case-folded, dashes unified,
    parenthesized parts (also an unclosed trailing one), multipliers (``x2``, ``2x``,
    ``*3``) and numbers (digits, Roman numerals I-X) removed, spaces collapsed.

    Args:
        header: A header as written.

    Returns:
        E.g. ``"verse - remix"`` for ``"[Verse 2 - Remix (x2): Singer]"``; ``""`` for none.
    """
    text = _DASHES.sub("-", cut_credits(header).casefold())
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]  # "(Chorus)": the parentheses hold the whole header
    text = strip_multipliers(text)
    previous = None
    while previous != text:
        previous, text = text, _PARENS.sub(" ", text)
    text = _NUMBER.sub(" ", _OPEN_PAREN.sub(" ", text))
    return _SPACES.sub(" ", text).strip(_EDGE)


def header_parts(header: str) -> list[str]:
    """The parts of a compound header, normalized, left to right, empty ones dropped.

    Args:
        header: A header as written.

    Returns:
        E.g. ``["bridge", "outro"]`` for ``"Bridge/Outro"``.
    """
    parts = (part.strip(_EDGE) for part in _SPLIT.split(normalize_header(header)))
    return [part for part in parts if part]


def _wrapped(text: str) -> bool:
    """Whether one pair of parentheses encloses the text: ``(Chorus (x2))``, not ``(a) (b)``."""
    if len(text) < 2 or text[0] != "(" or text[-1] != ")":
        return False
    depth = 0
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if depth == 0:
            return i == len(text) - 1
    return False


class _LineLoader(yaml.SafeLoader):
    """Safe YAML loader that records the 1-based line of each mapping as ``__line__``.

    A key given twice in one mapping is an error (plain YAML loaders keep the last one).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                continue  # an unhashable key fails in the base class with its own message
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


class SectionMap:
    """Ordered header -> class rules loaded from a YAML file.

    Args:
        classes: Section class names; a class id is the index.
        chorus_classes: Classes whose lines get the verse/chorus label 1.
        rules: ``(class name, compiled patterns)`` in matching order.
        source: Where the rules came from (used in messages).
        numbered_classes: Classes whose sections are numbered in tagged output (``Verse 2``).
        qualifiers: Words that may stand beside a section name in a header line outside
            brackets (``Repeat Chorus:``, ``(Final Chorus)``); see :meth:`read_header`.
    """

    def __init__(
        self,
        classes: Sequence[str],
        chorus_classes: Sequence[str],
        rules: Sequence[tuple[str, Sequence[re.Pattern[str]]]],
        source: str = "<memory>",
        numbered_classes: Sequence[str] = (),
        qualifiers: Sequence[str] = (),
    ) -> None:
        self.classes = tuple(classes)
        self.numbered_classes = frozenset(numbered_classes)
        self.qualifiers = frozenset(qualifiers)
        self.chorus_classes = frozenset(chorus_classes)
        self.rules = tuple((name, tuple(patterns)) for name, patterns in rules)
        self.source = source
        self._index = {name: i for i, name in enumerate(self.classes)}
        self._cache: dict[str, str | None] = {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> SectionMap:
        """Read and validate a mapping file.

        Args:
            path: A user's YAML file; ``None`` for the packaged ``sections.yaml``.

        Returns:
            The validated map.

        Raises:
            LyricsegError: When the file cannot be read or is invalid; the message names the
                file and, where it applies, the line.
        """
        file = default_map_path() if path is None else Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise LyricsegError(f"cannot read section map {file}: {err}") from None
        try:
            data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{file}:{mark.line + 1}" if mark is not None else str(file)
            problem = getattr(err, "problem", None) or str(err)
            raise LyricsegError(f"{where}: invalid YAML in section map ({problem})") from None
        return cls._from_data(data, str(file), packaged=path is None)

    @classmethod
    def _from_data(cls, data: Any, source: str, packaged: bool) -> SectionMap:
        if not isinstance(data, dict):
            raise LyricsegError(f"{source}: a section map must be a YAML mapping with 'rules'")
        unknown = sorted(set(data) - _TOP_KEYS - {"__line__"})
        if unknown:
            raise LyricsegError(
                f"{source}: unknown key(s) {unknown} in section map (allowed: {sorted(_TOP_KEYS)})"
            )
        if data.get("version", 1) != 1:
            raise LyricsegError(f"{source}: section map version {data['version']!r}; expected 1")
        packaged_classes = None if packaged else _packaged_map().classes
        classes = data.get("classes") if packaged else data.get("classes", list(packaged_classes))
        if (
            not isinstance(classes, list)
            or not classes
            or not all(isinstance(c, str) for c in classes)
        ):
            raise LyricsegError(f"{source}: 'classes' must be a list of class names")
        if len(set(classes)) != len(classes):
            raise LyricsegError(f"{source}: 'classes' lists a class twice: {classes}")
        if not packaged and tuple(classes) != packaged_classes:
            raise LyricsegError(
                f"{source}: 'classes' must be exactly {list(packaged_classes)} (class ids are "
                f"the outputs of the section head); got {classes}"
            )
        default_chorus = None if packaged else sorted(_packaged_map().chorus_classes)
        chorus = data.get("chorus_classes", default_chorus)
        if not isinstance(chorus, list) or not all(c in classes for c in chorus):
            raise LyricsegError(
                f"{source}: 'chorus_classes' must be a list of classes among {classes}; "
                f"got {chorus!r}"
            )
        rules_data = data.get("rules")
        if not isinstance(rules_data, list) or not rules_data:
            raise LyricsegError(f"{source}: 'rules' must be a non-empty list of rules")
        rules = [cls._parse_rule(rule, i, classes, source) for i, rule in enumerate(rules_data)]
        default_numbered = None if packaged else sorted(_packaged_map().numbered_classes)
        numbered = data.get("numbered_classes", default_numbered) or []
        if not isinstance(numbered, list) or not all(c in classes for c in numbered):
            raise LyricsegError(
                f"{source}: 'numbered_classes' must be a list of classes among {classes}; "
                f"got {numbered!r}"
            )
        default_qualifiers = None if packaged else sorted(_packaged_map().qualifiers)
        qualifiers = data.get("qualifiers", default_qualifiers) or []
        if not isinstance(qualifiers, list) or not all(
            isinstance(q, str) and q and q == q.casefold() and len(q.split()) == 1
            for q in qualifiers
        ):
            raise LyricsegError(
                f"{source}: 'qualifiers' must be a list of single lower-case words; "
                f"got {qualifiers!r}"
            )
        return cls(classes, chorus, rules, source, numbered, qualifiers)

    @staticmethod
    def _parse_rule(
        rule: Any, index: int, classes: Sequence[str], source: str
    ) -> tuple[str, list[re.Pattern[str]]]:
        if not isinstance(rule, dict):
            raise LyricsegError(
                f"{source}: rule {index + 1} must be a mapping with 'class' and 'patterns'"
            )
        where = f"{source}:{rule.get('__line__', '?')}: rule {index + 1}"
        keys = set(rule) - {"__line__"}
        if keys != _RULE_KEYS:
            raise LyricsegError(
                f"{where}: expected keys 'class' and 'patterns', got {sorted(keys)}"
            )
        name = rule["class"]
        if name not in classes:
            raise LyricsegError(f"{where}: class {name!r} is not one of {list(classes)}")
        patterns = rule["patterns"]
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not patterns:
            raise LyricsegError(f"{where}: 'patterns' must be a non-empty list of regexes")
        compiled = []
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern:
                raise LyricsegError(f"{where}: pattern {pattern!r} must be a non-empty string")
            try:
                compiled.append(re.compile(pattern))
            except re.error as err:
                raise LyricsegError(
                    f"{where}: pattern {pattern!r} is not a valid regular expression ({err})"
                ) from None
        return name, compiled

    def classify(self, header: str) -> str | None:
        """Class of a header as written, or ``None`` when no rule matches (unmapped).

        Args:
            header: E.g. ``"Verse 2"``, ``"[Hook x2: Singer]"``, ``"Bridge/Outro"``.

        Returns:
            A name from :attr:`classes`, or ``None`` (also for an empty header).
        """
        if header in self._cache:
            return self._cache[header]
        if len(header) > MAX_HEADER_CHARS:
            return None  # not cached: a long text would only fill the cache
        found = None
        for part in header_parts(header):
            found = next(
                (name for name, pats in self.rules if any(p.search(part) for p in pats)), None
            )
            if found is not None:
                break
        self._cache[header] = found
        return found

    def names_section(self, name: str) -> bool:
        """Whether a header names sections and nothing else (besides :attr:`qualifiers`).

        Stricter than :meth:`classify`, which finds ``chorus`` in ``"the chorus sang"``: every
        part of the normalized header must match a rule, and what the rules' patterns leave
        of it may only be qualifier words (``"Repeat Chorus"``, ``"Instrumental Bridge"``).
        """
        if len(name) > MAX_HEADER_CHARS:
            return False
        parts = header_parts(name)
        if not parts:
            return False
        for part in parts:
            rest, found = part, 0
            for _, patterns in self.rules:
                for pattern in patterns:
                    rest, n = pattern.subn(" ", rest)
                    found += n
            words = rest.replace("-", " ").split()
            if not found or any(word not in self.qualifiers for word in words):
                return False
        return True

    def read_header(self, line: str, any_bracketed: bool = True) -> str | None:
        """The header a line of lyrics text stands for, as written, or None for a lyric line.

        A line that is one bracketed group (``[Chorus x2: Singer]``; also with a multiplier
        after it, ``[Chorus] (x2)``) is a header: any such line with ``any_bracketed`` (the
        Genius convention: ``[Produced by X]`` is an unmapped header), else only when a rule
        matches it (:meth:`classify`), so that bracketed backing vocals (``[I want you]``)
        stay lyrics. Any other line is a header only when it is marked as one --
        parentheses around it, a trailing colon, leading ``#``, a trailing multiplier -- and
        its content names sections (:meth:`names_section`): ``(Chorus)``, ``(Hook: Singer)``,
        ``Verse 1:``, ``#CHORUS``, ``Chorus x2``, ``Repeat Chorus (x2):``. ``(oh oh oh)``,
        ``(yeah)`` and ``Listen:`` are lyrics, and so is an unmarked ``Chorus``.

        Args:
            line: One line of lyrics text.
            any_bracketed: Take every bracketed line as a header (the converter), not only
                those the rules know (lyrics given for prediction).

        Returns:
            The header without its markup and singer credits (``"Chorus x2"``, ``"Verse 1"``,
            ``""`` for ``[]``), or None. Lines over :data:`MAX_HEADER_CHARS` are lyrics.
        """
        text = line.strip()
        if not text or len(text) > MAX_HEADER_CHARS:
            return None
        if text.startswith("["):
            close = text.rfind("]")
            rest = text[close + 1 :].strip()
            if close < 0 or (rest and strip_multipliers(rest)):
                return None
            header = cut_credits(text[: close + 1])
            if not any_bracketed and self.classify(header) is None:
                return None
            return f"{header} {rest}".strip() if rest else header
        marked = False
        if text.startswith("#"):
            text, marked = text.lstrip("#").strip(), True
        if text.endswith(":"):
            text, marked = text[:-1].strip(), True
        multiplier = _TRAILING_MULTIPLIER.search(text)
        if multiplier is not None:
            text, marked = text[: multiplier.start()].strip(), True
        if _wrapped(text):
            text, marked = text[1:-1].strip(), True
        if not marked:
            return None
        name = cut_credits(text)
        if not self.names_section(name):
            return None
        return f"{name} {multiplier.group().strip()}" if multiplier is not None else name

    def header(self, class_name: str, number: int | None = None) -> str:
        """The tagged-output header of a section: ``Pre-Chorus``, ``Verse 2``.

        Args:
            class_name: A class of this map.
            number: The section's number among sections of its class, shown for the
                ``numbered_classes``.
        """
        title = "-".join(part.capitalize() for part in class_name.split("-"))
        if number is not None and class_name in self.numbered_classes:
            return f"{title} {number}"
        return title

    def class_id(self, header: str) -> int:
        """Class id of a header, :data:`UNKNOWN_CLASS` (-1) when unmapped."""
        name = self.classify(header)
        return UNKNOWN_CLASS if name is None else self._index[name]

    def is_chorus(self, class_name: str | None) -> bool:
        """Whether lines of this class get the verse/chorus label 1."""
        return class_name in self.chorus_classes

    def chorus_ids(self) -> list[int]:
        """Class ids (indices in :attr:`classes`) of the chorus classes, in class order."""
        return [i for i, name in enumerate(self.classes) if name in self.chorus_classes]

    def label(self, header: str) -> int:
        """Verse/chorus label (1 chorus, 0 otherwise, also when unmapped) of a header."""
        return int(self.is_chorus(self.classify(header)))


@functools.cache
def _packaged_map() -> SectionMap:
    return SectionMap.load(None)


def default_section_map() -> SectionMap:
    """The packaged section map (loaded once)."""
    return _packaged_map()


def is_chorus(class_name: str | None) -> bool:
    """Whether a class gets the verse/chorus label 1 in the packaged map (chorus, post-chorus).

    Args:
        class_name: A class name of the packaged map, or ``None`` for unmapped.

    Returns:
        ``True`` for the packaged ``chorus_classes``.
    """
    return _packaged_map().is_chorus(class_name)


def section_starts(headers: Sequence[str], header_above: Sequence[bool] | None = None) -> list[int]:
    """Flag the lines that start a section.

    Args:
        headers: ``[T]`` header of each line as written (``""`` for none).
        header_above: Optional ``[T]``: ``True`` where a header line stood right above the
            line (known to the converter, lost in records that keep only ``sections``);
            such a line starts a section even when its header repeats the previous one.

    Returns:
        ``[T]`` 0/1 flags; line 0 is always 1 (a song starts with a section).

    Raises:
        LyricsegError: When ``header_above`` and ``headers`` differ in length.
    """
    if header_above is not None and len(header_above) != len(headers):
        raise LyricsegError(
            f"section_starts got {len(headers)} headers but {len(header_above)} header flags"
        )
    flags = []
    for i, header in enumerate(headers):
        above = header_above is not None and bool(header_above[i])
        flags.append(int(i == 0 or header != headers[i - 1] or above))
    return flags
