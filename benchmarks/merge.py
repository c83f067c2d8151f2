"""Merge bench parts measured elsewhere into ``bench-results/bench.json``.

    python -m benchmarks.merge OTHER.json --into cv            # its cv recipes join the table
    python -m benchmarks.merge OTHER.json --into ablation --name "no extra corpus"
    python -m benchmarks.merge OTHER.json --into gpu           # any other part: copied whole

A bench run on another machine (a GPU machine, a longer-lived one) writes its own
``bench.json``; this brings its parts over unchanged, each with the command, date, machine
and revision that produced it. Cross-validation recipes join the headline table only when
their folds are the same (songs, fold count and seed, inner split, near-duplicate rule) and,
for trained recipes, their training settings too; otherwise the merge is refused.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.io import atomic_write_json

BENCH = Path(__file__).resolve().parents[1] / "bench-results" / "bench.json"
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


def main(argv: list[str] | None = None) -> int:
    """Merge one part of another bench file; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.merge", description=__doc__)
    parser.add_argument("other", type=Path, help="the bench.json to take a part from")
    parser.add_argument("--part", default="cv", help="its part to take (default cv)")
    parser.add_argument("--into", required=True, help="cv, ablation, or the part's own name")
    parser.add_argument("--name", help="the ablation row's name (with --into ablation)")
    parser.add_argument("--recipes", help="comma-separated: take only these cv recipes")
    parser.add_argument("--bench", type=Path, default=BENCH, help="the bench.json to update")
    args = parser.parse_args(argv)
    try:
        other = json.loads(args.other.read_text(encoding="utf-8"))
        bench = (
            json.loads(args.bench.read_text(encoding="utf-8"))
            if args.bench.exists()
            else {"version": 1, "parts": {}}
        )
    except (OSError, json.JSONDecodeError) as err:
        print(f"error: cannot read a bench file: {err}", file=sys.stderr)
        return 2
    part = other.get("parts", {}).get(args.part)
    try:
        if part is None:
            raise LyricsegError(f"{args.other} has no part {args.part!r}")
        if args.recipes and "recipes" in part:
            keep = args.recipes.split(",")
            missing = [r for r in keep if r not in part["recipes"]]
            if missing:
                raise LyricsegError(f"{args.other} has no recipes {missing} in {args.part}")
            part = {**part, "recipes": {r: part["recipes"][r] for r in keep}}
        if args.into == "cv":
            if "error" in part:
                raise LyricsegError(f"its cv part failed: {part['error']}")
            what = f"recipes {', '.join(merge_cv(bench, part))} into cv"
        elif args.into == "ablation":
            if not args.name:
                raise LyricsegError("--into ablation needs --name")
            add_ablation(bench, args.name, part)
            what = f"ablation row {args.name!r}"
        else:
            bench.setdefault("parts", {})[args.into] = copy.deepcopy(part)
            what = f"part {args.into}"
    except LyricsegError as err:
        print(f"error: {err}; {args.bench} is unchanged", file=sys.stderr)
        return 2
    atomic_write_json(args.bench, bench)
    print(f"merged {what} from {args.other} into {args.bench}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
