"""A deterministic generated corpus of invented lyrics.

It is the default training data, so that ``make train`` works on a fresh clone without any
third-party lyrics. Songs follow common forms (verse/chorus alternation, pre-chorus-free pop,
songs that open on the chorus, songs without any chorus, bridges), choruses return with small
variations, verses sometimes repeat a line inside themselves, and lengths vary.
"""

from __future__ import annotations

import random
from pathlib import Path

from lyricseg.data.songs import Song, write_jsonl
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)

_SUBJECTS = [
    "i",
    "you",
    "we",
    "they",
    "she",
    "he",
    "nobody",
    "everyone",
    "the city",
    "the river",
    "my heart",
    "your shadow",
]
_VERBS = [
    "walk",
    "run",
    "fall",
    "call",
    "hold",
    "burn",
    "wait",
    "dream",
    "drive",
    "sing",
    "break",
    "turn",
    "shine",
    "fade",
    "carry",
    "follow",
    "remember",
    "forget",
    "chase",
    "climb",
    "whisper",
    "drift",
    "wander",
    "build",
    "wake",
]
_ADVERBS = [
    "slowly",
    "again",
    "tonight",
    "forever",
    "alone",
    "together",
    "softly",
    "away",
    "home",
    "tomorrow",
]
_PLACES = [
    "down the empty road",
    "across the silver sea",
    "under neon lights",
    "through the winter rain",
    "over the quiet hills",
    "into the morning sun",
    "behind the paper walls",
    "along the railway line",
    "beneath the falling stars",
    "past the sleeping town",
]
_RHYMES = [
    ["night", "light", "bright", "fight", "tight", "white", "sight", "flight"],
    ["day", "way", "stay", "away", "gray", "play", "say", "okay"],
    ["fire", "higher", "wire", "desire", "choir", "tire"],
    ["heart", "start", "apart", "art", "part", "chart"],
    ["go", "slow", "know", "glow", "snow", "below", "show"],
    ["time", "line", "shine", "mine", "sign", "wine", "fine"],
    ["rain", "again", "pain", "chain", "train", "lane", "plain"],
    ["sky", "fly", "high", "why", "cry", "goodbye", "try"],
]
_INTERJECTIONS = ["oh", "yeah", "hey", "ooh", "la la la", "whoa"]
_FORMS = [
    ("VCVCBC", 0.22),
    ("VCVC", 0.14),
    ("VVCVC", 0.10),
    ("CVCVC", 0.07),
    ("VCVCC", 0.10),
    ("VBVCVC", 0.06),
    ("VVV", 0.12),
    ("VVVV", 0.07),
    ("VBV", 0.04),
    ("VCVCBCC", 0.08),
]


class SyntheticCorpus:
    """Generator of invented songs written as ``train/val/test.jsonl``.

    Args:
        n_train: Songs in the training split.
        n_val: Songs in the validation split.
        n_test: Songs in the test split.
        seed: Random seed; the same seed gives byte-identical files.
    """

    def __init__(self, n_train: int = 400, n_val: int = 100, n_test: int = 100, seed: int = 7):
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.seed = seed

    def songs(self, split: str) -> list[Song]:
        """Generate the songs of one split (deterministic per split and seed)."""
        offset = {"train": 0, "val": 1, "test": 2}[split]
        rng = random.Random(self.seed * 1000 + offset)
        return [self._song(rng, f"synthetic-{split}-{i:04d}") for i in range(self.sizes[split])]

    def write(self, data_dir: str | Path) -> None:
        """Write the three splits into ``data_dir`` unless identical files are already there."""
        data_dir = Path(data_dir)
        stamp = data_dir / ".generator"
        signature = f"{self.sizes}|{self.seed}|v1"
        if stamp.exists() and stamp.read_text() == signature:
            return
        log.info("Generating the synthetic corpus in %s", data_dir)
        for split in self.sizes:
            write_jsonl(data_dir / f"{split}.jsonl", self.songs(split))
        stamp.write_text(signature)

    # -- generation --------------------------------------------------------------------
    @staticmethod
    def _line(rng: random.Random, rhyme: list[str]) -> str:
        subject = rng.choice(_SUBJECTS)
        verb = rng.choice(_VERBS)
        parts = [subject, verb]
        if rng.random() < 0.5:
            parts.append(rng.choice(_PLACES))
        if rng.random() < 0.3:
            parts.append(rng.choice(_ADVERBS))
        if rng.random() < 0.15:
            parts.insert(0, rng.choice(_INTERJECTIONS))
        parts.append("in the " + rng.choice(rhyme) if rng.random() < 0.4 else rng.choice(rhyme))
        line = " ".join(parts)
        return line[0].upper() + line[1:]

    def _block(self, rng: random.Random, n: int) -> list[str]:
        rhymes = rng.sample(_RHYMES, 2)
        lines = [self._line(rng, rhymes[i % 2]) for i in range(n)]
        if n >= 4 and rng.random() < 0.2:  # a line repeated inside the block
            i = rng.randrange(n - 1)
            lines[i + 1] = lines[i]
        return lines

    @staticmethod
    def _vary(rng: random.Random, chorus: list[str]) -> list[str]:
        out = list(chorus)
        if rng.random() < 0.5:
            i = rng.randrange(len(out))
            words = out[i].split()
            words[rng.randrange(len(words))] = rng.choice(_ADVERBS)
            out[i] = " ".join(words)
        if rng.random() < 0.2 and len(out) > 3:
            out = out[:-1]
        if rng.random() < 0.2:
            out = out + [out[0]]
        if rng.random() < 0.15:
            out = [f"{rng.choice(_INTERJECTIONS).capitalize()}, {out[0].lower()}"] + out[1:]
        return out

    def _song(self, rng: random.Random, song_id: str) -> Song:
        form = rng.choices([f for f, _ in _FORMS], weights=[w for _, w in _FORMS])[0]
        chorus = self._block(rng, rng.randint(3, 6))
        if rng.random() < 0.3:  # a hook line sung twice
            chorus = chorus[:1] + chorus
        lines: list[str] = []
        labels: list[int] = []
        first_chorus = True
        for part in form:
            if part == "C":
                block = chorus if first_chorus else self._vary(rng, chorus)
                first_chorus = False
                label = 1
            else:
                n = rng.randint(2, 4) if part == "B" else rng.randint(4, 10)
                block = self._block(rng, n)
                label = 0
            lines += block
            labels += [label] * len(block)
        return Song(id=song_id, lines=tuple(lines), labels=tuple(labels))
