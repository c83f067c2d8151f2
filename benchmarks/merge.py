"""Merge bench parts measured elsewhere into ``bench-results/bench.json``.

    python -m benchmarks.run --merge OTHER.json --into cv       # its cv recipes join the table
    python -m benchmarks.run --merge OTHER.json --into ablation --ablation "no extra corpus"
    python -m benchmarks.run --merge OTHER.json --part ablation --into ablation  # its rows
    python -m benchmarks.run --merge OTHER.json --part gpu --into gpu  # other parts: copied whole

A bench run on another machine (a GPU machine, a longer-lived one) writes its own
``bench.json``; this brings its parts over unchanged, each with the command, date, machine
and revision that produced it. Cross-validation recipes join the headline table only when
their folds are the same (songs, fold count and seed, inner split, near-duplicate rule) and,
for trained recipes, their training settings too; otherwise the merge is refused.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.io import atomic_write_json

#: Protocol entries that make two cross-validations' folds the same.
FOLD_PROTOCOL = ("songs", "folds", "seed", "val_fraction", "near_duplicate_threshold")
#: Further entries that trained recipes must share to sit in one table.
TRAIN_PROTOCOL = ("train_seed", "extra_names", "overrides")


def _protocol(part: dict[str, Any]) -> dict[str, Any]:
    p = dict(part["protocol"])
    p["extra_names"] = sorted(Path(d).name for d in p.get("extra_dirs", []))
    return p


def merge_cv(bench: dict[str, Any], part: dict[str, Any]) -> list[str]:
    """Add the recipes of a ``cv`` part to ``bench``'s (the first one becomes it).

    A recipe from another run keeps that run's ``meta`` (and ``protocol``) with it.

    Returns:
        The names of the recipes added.

    Raises:
        LyricsegError: When the folds or the training settings differ, or a recipe is there.
    """
    parts = bench.setdefault("parts", {})
    if "cv" not in parts or "error" in parts["cv"]:
        parts["cv"] = copy.deepcopy(part)
        return list(part["recipes"])
    mine, theirs = _protocol(parts["cv"]), _protocol(part)
    keys = list(FOLD_PROTOCOL)
    trained = [r for r in part["recipes"].values() if r["probabilistic"]]
    if trained and any(r["probabilistic"] for r in parts["cv"]["recipes"].values()):
        keys += TRAIN_PROTOCOL
    differ = [k for k in keys if mine.get(k) != theirs.get(k)]
    if differ:
        raise LyricsegError(
            "the cross-validations differ in "
            + ", ".join(f"{k} ({mine.get(k)!r} vs {theirs.get(k)!r})" for k in differ)
            + "; merge it as an ablation row instead"
        )
    added = []
    for name, recipe in part["recipes"].items():
        if name in parts["cv"]["recipes"]:
            raise LyricsegError(f"recipe {name} is already in the cv table")
        entry = copy.deepcopy(recipe)
        if part.get("meta") != parts["cv"].get("meta"):
            entry["meta"], entry["protocol"] = part.get("meta"), part["protocol"]
        parts["cv"]["recipes"][name] = entry
        added.append(name)
    return added


def add_ablation(bench: dict[str, Any], name: str, part: dict[str, Any]) -> None:
    """Store a ``cv`` part as the ablation row ``name`` (replacing a row of that name)."""
    rows = bench.setdefault("parts", {}).setdefault("ablation", {"rows": {}})["rows"]
    rows[name] = copy.deepcopy(part)


def merge_file(
    other: Path,
    bench_file: Path,
    part_name: str = "cv",
    into: str = "cv",
    name: str | None = None,
    recipes: list[str] | None = None,
) -> str:
    """Merge part ``part_name`` of the bench file ``other`` into ``bench_file``.

    Args:
        other: The bench.json to take a part from.
        bench_file: The bench.json to update (created when missing).
        part_name: Its part to take.
        into: ``cv`` (its recipes join the table, :func:`merge_cv`), ``ablation`` (one row
            named ``name``; from an ``ablation`` part, its rows, the one row renamed ``name``
            when given), or the name it is stored under (copied whole).
        name: The ablation row's name.
        recipes: Take only these cv recipes (all when None).

    Returns:
        What was merged, in words.

    Raises:
        LyricsegError: For an unreadable file, a missing part or recipe, or a refused merge;
            ``bench_file`` is then unchanged.
    """
    try:
        theirs = json.loads(other.read_text(encoding="utf-8"))
        bench = (
            json.loads(bench_file.read_text(encoding="utf-8"))
            if bench_file.exists()
            else {"version": 1, "parts": {}}
        )
    except (OSError, json.JSONDecodeError) as err:
        raise LyricsegError(f"cannot read a bench file: {err}") from None
    part = theirs.get("parts", {}).get(part_name)
    try:
        if part is None:
            raise LyricsegError(f"{other} has no part {part_name!r}")
        if recipes and "recipes" in part:
            missing = [r for r in recipes if r not in part["recipes"]]
            if missing:
                raise LyricsegError(f"{other} has no recipes {missing} in {part_name}")
            part = {**part, "recipes": {r: part["recipes"][r] for r in recipes}}
        if into == "cv":
            if "error" in part:
                raise LyricsegError(f"its cv part failed: {part['error']}")
            what = f"recipes {', '.join(merge_cv(bench, part))} into cv"
        elif into == "ablation" and part_name == "ablation":  # rows of another ablation part
            rows = part.get("rows", {})
            if name and len(rows) != 1:
                raise LyricsegError(
                    f"--ablation NAME renames one row, and {other} holds {len(rows)}"
                )
            for row_name, row in rows.items():
                add_ablation(bench, name or row_name, row)
            what = f"ablation rows {', '.join(repr(name or r) for r in rows)}"
        elif into == "ablation":
            if not name:
                raise LyricsegError("--into ablation needs --ablation NAME")
            add_ablation(bench, name, part)
            what = f"ablation row {name!r}"
        else:
            bench.setdefault("parts", {})[into] = copy.deepcopy(part)
            what = f"part {into}"
    except LyricsegError as err:
        raise LyricsegError(f"{err}; {bench_file} is unchanged") from None
    atomic_write_json(bench_file, bench)
    return f"merged {what} from {other} into {bench_file}"
