"""Render ``bench-results/bench.json`` as Markdown: ``docs/results.md`` and the README block.

    python -m benchmarks.run --render [--out bench-results] [--docs docs/results.md]
                                      [--readme README.md] [--no-readme]

Every figure comes from the JSON, with the command, date, machine and git revision that
produced it. ``docs/results.md`` is generated whole; in the README only the text between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` is replaced. Each part's text stands
between ``<!-- bench:part NAME -->`` and ``<!-- /bench:part -->``: a part that the bench file
does not hold (measured earlier, elsewhere, or by another run) keeps the text it was last
rendered with, its provenance line included, so rerunning one part never drops another.
Figures quoted from elsewhere (:data:`QUOTED`) go to a table of their own, with their source
and protocol.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.io import atomic_write

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "results.md"
README = REPO / "README.md"
MODEL_CARD = REPO / "docs" / "model-card.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
PART_START, PART_END = "<!-- bench:part {} -->", "<!-- /bench:part -->"
_PART = re.compile(r"^<!-- bench:part (\w+) -->\n(.*?)^<!-- /bench:part -->$", re.M | re.S)

#: Quality columns: (key, heading); for the last three lower is better.
COLUMNS = (
    ("macro_f1", "macro F1"),
    ("boundary_f1", "boundary F1"),
    ("boundary_f1_tol1", "boundary F1 ±1"),
    ("window_diff", "WindowDiff ↓"),
    ("pk", "Pk ↓"),
    ("ece", "ECE ↓"),
)

#: Figures measured elsewhere, under another protocol: never comparable with the tables above.
QUOTED = (
    {
        "what": "earlier system (60 SSM features, 25 epochs)",
        "source": "the earlier system's own report: its single validation split, which also "
        "chose its epoch; not re-run here",
        "metrics": {
            "macro_f1": 0.795,
            "boundary_f1": 0.514,
            "boundary_f1_tol1": 0.682,
            "window_diff": 0.315,
            "pk": 0.302,
        },
    },
)


def _num(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _secs(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} s" if value < 10 else f"{value:.0f} s"


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _provenance(meta: dict[str, Any]) -> str:
    m = meta["machine"]
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU"
    return (
        f"`{meta['command']}` — {meta['date']}, revision `{meta['revision']}`; "
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB{gpu}; "
        f"Python {m['python']}, torch {m['torch']}"
        + (f", OMP_NUM_THREADS={meta['omp_num_threads']}" if meta.get("omp_num_threads") else "")
        + f"; part took {_secs(meta.get('wall_s'))}"
        + (
            f", load average {meta['load_avg'][0]:.1f} → {meta['load_avg'][1]:.1f}."
            if meta.get("load_avg")
            else "."
        )
    )


def _quality_cells(metrics: dict[str, Any], probabilistic: bool, std: dict | None = None):
    cells = []
    for key, _ in COLUMNS:
        if key == "ece" and not probabilistic:
            cells.append("—")
        elif std is None:
            cells.append(_num(metrics.get(key)))
        else:
            cells.append(f"{_num(metrics.get(key))} ± {_num(std.get(key))}")
    return cells


def render_cv(part: dict[str, Any], full: bool) -> list[str]:
    """The cross-validation tables: pooled out-of-fold, and mean ± std over folds."""
    p = part["protocol"]
    extra = ", ".join(f"`{d}`" for d in p["extra_dirs"]) or "none"
    sample = f" (a seeded sample of {p['sample']} of them)" if p.get("sample") else ""
    out = [
        f"### Cross-validated quality: {p['folds']} folds over {p['songs']} songs",
        "",
        f"The main corpus's train + val songs{sample} are dealt into {p['folds']} folds by song; "
        f"near-duplicate songs (≥ {p['near_duplicate_threshold']:.0%} of the shorter song's "
        f"lines in the other; {p['songs_with_near_duplicates']} songs) stay in one fold. "
        + (
            f"Each fold's model trains as one job of a Hydra multirun over the folds "
            f"(`hydra/launcher={p['launcher']}`) on the other folds, split "
            if p.get("launcher")
            else "Each fold's model trains in its own process on the other folds, split "
        )
        + f"{1 - p['val_fraction']:.0%} / {p['val_fraction']:.0%} into inner train and inner "
        "val (the inner val alone fits the calibrator, and picks the epoch or stops training "
        "for a recipe that does), then `predict.py` tags the held-out fold, which nothing "
        "else has seen. "
        f"Extra training corpora: {extra}."
        + (f" Folds ran {p['jobs']} at a time." if p.get("jobs", 1) > 1 else ""),
        "",
        "Out-of-fold predictions pooled over all songs, scored once:",
        "",
    ]
    recipes = part["recipes"]
    head = ["recipe", *(h for _, h in COLUMNS)]
    out += _table(
        head,
        [[r["label"], *_quality_cells(r["pooled"], r["probabilistic"])] for r in recipes.values()],
    )
    out += ["", f"Each fold scored alone, mean ± std over the {p['folds']} folds:", ""]
    out += _table(
        head,
        [
            [r["label"], *_quality_cells(r["fold_mean"], r["probabilistic"], r["fold_std"])]
            for r in recipes.values()
        ],
    )
    for r in recipes.values():
        if r.get("meta"):  # merged from another run
            out += ["", f"<sub>{r['label']}: measured by {_provenance(r['meta'])}</sub>"]
    if full:
        for r in recipes.values():
            out += ["", f"Folds of {r['label']}:", ""]
            rows = []
            for f in r["folds"]:
                m = f["metrics"]
                rows.append(
                    [
                        str(f["fold"]),
                        f"{f['train']} / {f['val']} / {f['heldout']}",
                        _num(m["macro_f1"]),
                        _num(m["boundary_f1"]),
                        _num(m["window_diff"]),
                        str(f.get("epochs", "—")),
                        _secs(f.get("train_wall_s")),
                    ]
                )
            out += _table(
                [
                    "fold",
                    "train / val / held-out songs",
                    "macro F1",
                    "boundary F1",
                    "WindowDiff",
                    "epochs",
                    "train wall",
                ],
                rows,
            )
    return out


def _trained_on(meta: dict[str, Any]) -> str:
    m = meta["machine"]
    return m["gpu"] if m.get("gpu") else f"CPU ({m['cores']} cores)"


def render_ablation(part: dict[str, Any], full: bool) -> list[str]:
    """Variants of the recipes, each cross-validated on the same folds as the headline."""
    head = [
        "variant",
        "extra corpus",
        "trained on",
        *(h for _, h in COLUMNS),
        "macro F1 folds",
        "training, median fold",
    ]
    rows, notes = [], []
    for k, (name, row) in enumerate(part["rows"].items(), start=1):
        if "error" in row:
            rows.append([f"{name} [{k}]", "—", "—", *("—" for _ in COLUMNS), row["error"], "—"])
        else:
            p = row["protocol"]
            extra = ", ".join(Path(d).name for d in p["extra_dirs"]) or "none"
            for r in row["recipes"].values():
                label = f"{name}: {r['label']} [{k}]"
                folds = f"{_num(r['fold_mean']['macro_f1'])} ± {_num(r['fold_std']['macro_f1'])}"
                cells = _quality_cells(r["pooled"], r["probabilistic"])
                walls = [f["train_wall_s"] for f in r.get("folds", []) if f.get("train_wall_s")]
                cost = (
                    f"{_secs(statistics.median(walls))} ({p.get('jobs', 1)} at a time)"
                    if walls
                    else "—"
                )
                rows.append([label, extra, _trained_on(row["meta"]), *cells, folds, cost])
        if "meta" in row:
            notes.append(f"<sub>[{k}] {_provenance(row['meta'])}</sub>")
    return [
        "### Ablations and variants (5-fold CV, out-of-fold, same folds as above)",
        "",
        "Each row is a whole cross-validation like the headline table's (same folds, inner "
        "splits and scoring), with the overrides its command shows. Rows trained on a GPU "
        "ran 32-bit on CUDA kernels, so they differ from CPU runs by more than the seed "
        "alone; compare rows trained on the same device. The training time is a fold's "
        "job, from its start to its summary, with the folds that ran beside it and the load "
        "average its note gives: a cost, not a speed figure.",
        "",
        *_table(head, rows),
        "",
        *(line for note in notes for line in (note, "")),
    ]


def render_sections(part: dict[str, Any], full: bool) -> list[str]:
    """Section scores without and with stanza breaks, and the converter's throughput."""
    keys = [
        ("section_border_f1", "border F1"),
        ("section_border_f1_tol1", "border F1 ±1"),
        ("section_window_diff", "WindowDiff"),
        ("section_macro_f1", "class macro F1"),
        *(
            (f"section_f1_{c}", f"F1 {c.replace('_', '-')}")
            for c in ("verse", "pre_chorus", "chorus", "bridge")
        ),
        ("macro_f1", "verse/chorus macro F1"),
    ]
    rows = [[name, *(_num(m.get(k)) for k, _ in keys)] for name, m in part["rows"].items()]
    conv = part["converter"]
    return [
        f"### Sections ({part['songs']} held-out songs of `{Path(part['corpus']).name}`)",
        "",
        "The model tags the songs as given (no blank lines), then with a blank line before "
        "every header change, as their transcriptions had. These songs were the extra "
        "corpus's validation split (split by artist): they chose nothing in training "
        "(no epoch, no calibration).",
        "",
        *_table(["input", *(h for _, h in keys)], rows),
        "",
        f"Converter (`python -m lyricseg.commands.convert`, in process): {conv['songs']} invented "
        f"headed files, {conv['lines']:,} lines in {_secs(conv['median_s'])} — "
        f"{conv['songs_per_s']:,.0f} songs/s, {conv['lines_per_s']:,.0f} lines/s "
        f"(median of {_runs(len(conv['runs_s']))}).",
    ]


def render_stanzas(part: dict[str, Any], full: bool) -> list[str]:
    """Stanza borders of held-out artists: the baseline and the model told 0, ½, all breaks."""
    keys = [
        ("border_precision", "precision"),
        ("border_recall", "recall"),
        ("border_f1", "border F1"),
        ("border_f1_tol1", "border F1 ±1"),
        ("window_diff", "WindowDiff ↓"),
        ("pk", "Pk ↓"),
        ("pred_per_gold", "borders per true one"),
        ("hidden_recall", "found of those not told"),
    ]
    rows = [[name, *(_num(m.get(k)) for k, _ in keys)] for name, m in part["rows"].items()]
    names = list(part["rows"])
    langs = [
        [lang, str(x["songs"]), *(_num(x["rows"][n]["border_f1"]) for n in names)]
        for lang, x in part["languages"].items()
    ]
    split = part["split"]
    model = f"`{part['ckpt']}`" if part.get("ckpt") else "the shipped model"
    return [
        f"### Stanza borders ({part['songs']} songs of held-out artists, "
        f"`{Path(part['corpus']).name}` corpus)",
        "",
        "Where does each stanza start, given a song's lines without blank lines (the task of "
        "the published lyrics-segmentation work)? The stanza corpus is split by a hash of the "
        f"artist's name ({split['held_out_share']:.0%} of artists held out, "
        f"`lyricseg.data.stanzas.stanza_split`; {split['held_out_songs']} of "
        f"{split['train_songs'] + split['held_out_songs']} songs); {model} tags the held-out "
        "songs and its section starts are scored against the stanza starts the blank lines "
        "marked. It is told no breaks, half of them (drawn with seed "
        f"{part['seed']}, rounded up; the other lines unknown, or said to have none as a text "
        "missing half its blank lines would say), or all of them; told more, it should find "
        "more, and keep finding the borders it was not told.",
        "",
        *_table(["input", *(h for _, h in keys)], rows),
        "",
        "Border F1 by language (a stop-word guess):",
        "",
        *_table(["language", "songs", *names], langs),
    ]


#: Columns of the seeds table: (score key of the seeds part, heading).
SEED_COLUMNS = (
    ("sections/macro_f1", "verse/chorus macro F1"),
    ("sections/section_border_f1", "section border F1"),
    ("sections/section_f1_chorus", "F1 chorus"),
    ("sections/section_f1_verse", "F1 verse"),
    ("sections/section_macro_f1", "class macro F1"),
    ("stanzas/without breaks", "stanza border F1, no breaks"),
    ("stanzas/with all its breaks", "stanza border F1, all breaks"),
)


def render_seeds(part: dict[str, Any], full: bool) -> list[str]:
    """Each training seed's held-out scores, their mean ± std and spread (max - min)."""
    summary = part["summary"]
    rows = [
        [
            f"seed {r['seed']}",
            *(_num(r["scores"].get(k)) for k, _ in SEED_COLUMNS),
            f"{r['epochs']} / {_secs(r['train_wall_s'])}" if r.get("train_wall_s") else "—",
        ]
        for r in part["rows"]
    ]
    rows.append(
        [
            f"mean ± std ({len(part['rows'])} seeds)",
            *(
                f"{_num(summary[k]['mean'])} ± {_num(summary[k]['std'])}" if k in summary else "—"
                for k, _ in SEED_COLUMNS
            ),
            "",
        ]
    )
    rows.append(
        [
            "spread (max − min)",
            *(_num(summary[k]["spread"]) if k in summary else "—" for k, _ in SEED_COLUMNS),
            "",
        ]
    )
    extra = ", ".join(f"`{Path(d).name}`" for d in part["extra_dirs"]) or "no extra corpus"
    return [
        "### Training seeds (`experiment=lyrics_best`, one model per seed)",
        "",
        "The shipped model's command, trained once per seed on the main corpus's train/val "
        f"split plus {extra}; nothing else changes between the rows. Each model tags the "
        f"{part['sections_songs']} songs of `{Path(part['sections_corpus']).name}` "
        "(the extra corpus's val artists, no blank lines) and the "
        f"{part['stanza_songs']} songs of the stanza corpus's held-out artists, neither of "
        "which chose anything in training.",
        "",
        *_table(
            ["model", *(h for _, h in SEED_COLUMNS), "epochs / training"],
            rows,
        ),
    ]


#: Error-type columns: (count key, denominator key or None, heading).
ERROR_COLUMNS = (
    ("missed_chorus", "gold_chorus_blocks", "missed chorus blocks"),
    ("extra_chorus", "pred_chorus_blocks", "extra chorus blocks"),
    ("border_off_by_1", "gold_borders", "border off by 1"),
    ("border_off_by_2", "gold_borders", "border off by 2"),
    ("repeated_verse_as_chorus", None, "repeated verse called chorus"),
    ("chorus_never_repeats", "gold_chorus_blocks", "chorus that never repeats"),
)


def _error_row(name: str, group: dict[str, Any]) -> list[str]:
    counts = group["counts"]
    cells = [
        f"{counts[key]} / {counts[den]}" if den else str(counts[key])
        for key, den, _ in ERROR_COLUMNS
    ]
    return [name, str(group["songs"]), *cells, _num(group["macro_f1"]), _num(group["window_diff"])]


def render_errors(part: dict[str, Any], full: bool) -> list[str]:
    """Error types by source and repetitiveness, and the worst songs' ids."""
    cols = ["songs", *(h for _, _, h in ERROR_COLUMNS), "macro F1", "WindowDiff ↓"]
    recipes = part["recipes"]
    name = "lyrics_best" if "lyrics_best" in recipes else next(iter(recipes))
    recipe = recipes[name]
    rows = [_error_row("all", recipe["all"])]
    rows += [_error_row(f"source `{k}`", g) for k, g in recipe["by_source"].items()]
    rows += [_error_row(f"repeated lines {k}", g) for k, g in recipe["by_repetition"].items()]
    where = Path(part["songs_file"])
    where = f"`{where.parent.name}/{where.name}`"
    if part["predictions"] == "out-of-fold":
        what = f"Out-of-fold predictions of the cross-validation over {where}."
    else:
        what = f"Predictions of {recipe['label']} on {where}."
    out = [
        f"### Error types ({recipe['label']})",
        "",
        f"{what} Blocks are maximal runs of one label. A missed (extra) "
        "chorus block has no line predicted (gold) chorus; a border off by one or two is a "
        "gold border not predicted exactly but matched to a predicted border that near; a "
        "repeated verse called chorus is a run of verse lines predicted chorus, at least half "
        "of whose lines occur twice in the song (not a slip of one or two lines at a chorus "
        "border); a chorus that never repeats (no line of it "
        "occurs twice) is a convention hazard more than a model error. Counts are shown over "
        "what they are a share of (gold chorus blocks, predicted chorus blocks, gold "
        "borders). Sources are id prefixes; repeated lines is the share of a song's lines "
        "whose normalized text occurs more than once.",
        "",
        *_table(["songs of", *cols], rows),
    ]
    if full:
        others = [_error_row(r["label"], r["all"]) for k, r in recipes.items() if k != name]
        if others:
            out += ["", "All songs, the other recipes:", "", *_table(["recipe", *cols], others)]
        worst = ", ".join(f"`{w['id']}` ({_num(w['macro_f1'], 2)})" for w in recipe["worst"])
        out += ["", f"The {len(recipe['worst'])} songs with the lowest macro F1: {worst}."]
    return out


def render_speed(part: dict[str, Any], full: bool) -> list[str]:
    """Whole-process timings."""
    out = [
        "### Speed (whole processes, start-up included; the median of the runs listed: "
        f"{_runs(part['repeats'])} per prediction figure, training as often as it ran)",
        "",
    ]
    rows = []
    for r in part["rows"]:
        figure = _secs(r["median_s"])
        if r.get("songs_per_s"):
            figure += f" ({r['songs_per_s']:.0f} songs/s)"
        if r.get("to_best_median_s") is not None:
            figure += f"; best checkpoint written after {_secs(r['to_best_median_s'])}"
        runs = ", ".join(_secs(x) for x in r["runs_s"])
        rows.append([r["what"], figure, f"{len(r['runs_s'])}: {runs}"])
    return out + _table(["what", "median", "runs"], rows)


def render_first_run(part: dict[str, Any], full: bool) -> list[str]:
    """``make train`` on a fresh clone, quiet and beside busy processes."""
    rows = []
    for r in part["rows"]:
        runs = r.get("runs", [])
        rows.append(
            [
                r["what"],
                _secs(r["median_s"]),
                ", ".join(_secs(x) for x in r["runs_s"]),
                ", ".join(str(x["epochs"]) for x in runs),
                ", ".join(_num(x["best_score"]) for x in runs),
                ", ".join(f"{x['load_avg']:.1f}" for x in runs),
            ]
        )
    return [
        f"### First run: `make train` (`{part['command']}`, whole process, fresh folder; "
        f"median of {_runs(part['repeats'])})",
        "",
        *_table(["machine", "median", "runs", "epochs", "best val boundary F1", "load avg"], rows),
        "",
        f"Beside {part['busy']} busy-loop process{'es' if part['busy'] != 1 else ''} on "
        f"{part['cores']} cores the run took "
        f"{part['slowdown']:.1f}× its quiet time.",
    ]


def render_long(part: dict[str, Any], full: bool) -> list[str]:
    """One very long song per length."""
    rows = [
        [
            f"{r['lines']:,}",
            _secs(r["seconds"]),
            _secs(r["features_s"]),
            f"{r['peak_rss_mb']:,.0f} MiB",
            str(r["threads"]),
        ]
        for r in part["rows"]
    ]
    return [
        "### One long song (prediction in a fresh process per length; median of "
        f"{_runs(part['repeats'])})",
        "",
        *_table(["lines", "predict", "features alone", "peak RSS", "threads"], rows),
    ]


def render_load(part: dict[str, Any], full: bool) -> list[str]:
    """The HTTP service under load."""

    def load_avg(r: dict[str, Any]) -> str:
        if r.get("load_avg_start") is None:
            return _num(r.get("load_avg"), 1)
        return f"{r['load_avg_start']:.1f} → {r['load_avg']:.1f}"

    rows = [
        [
            str(r["concurrency"]),
            str(r["requests"]),
            str(r["errors"]),
            _num(r["p50_ms"], 1),
            _num(r["p95_ms"], 1),
            _num(r["songs_per_s"], 1),
            _num(r.get("cpu_ms_per_song"), 1),
            load_avg(r),
        ]
        for r in part["rows"]
    ]
    lines = part["rows"][0]["lines"] if part["rows"] else "?"
    settings = " ".join(part["rows"][0].get("settings") or []) if part["rows"] else ""
    head = ["clients", "requests", "errors", "p50 ms", "p95 ms", "songs/s", "server CPU ms/song"]
    return [
        f"### HTTP service under load ({lines}-line song, `POST /v1/segment`"
        + (f", `{settings}`" if settings else ", default settings")
        + ")",
        "",
        *_table([*head, "load avg"], rows),
        "",
        "Latency and songs/s depend on what else runs on the machine (its load average, from "
        "the start to the end of each row, counts every process); the server's CPU time per "
        "song, its worker processes included, much less.",
    ]


def render_losses(part: dict[str, Any], full: bool) -> list[str]:
    """Loss families on one split: not comparable with the cross-validated rows."""
    rows = [
        [f"`{name}`", *_quality_cells(r["mean"], True, r["std"])]
        for name, r in part["rows"].items()
    ]
    return [
        "### Loss families — single split (val)",
        "",
        "The default model with only the loss changed, trained on the corpus's own train split; "
        "scored on its val split, which also chose the epoch and fitted the calibrator "
        f"(optimistic; mean ± std over seeds {part['seeds']}). Compare rows with each other, "
        "not with the cross-validated tables.",
        "",
        *_table(["loss", *(h for _, h in COLUMNS)], rows),
    ]


def render_gpu(part: dict[str, Any], full: bool) -> list[str]:
    """Training time per epoch by device."""
    rows = [
        [
            r["device"] + (f" ({r['threads']} thr.)" if r.get("threads") else ""),
            str(r["epochs"]),
            _secs(r["epoch_s"]),
            _secs(r["fit_s"]),
            _secs(r["wall_s"]),
            f"{r['speedup_vs_cpu']:.1f}×",
        ]
        for r in part["rows"]
    ]
    extra = ", ".join(f"`{d}`" for d in part["extra_dirs"]) or "no extra corpus"
    return [
        f"### Training time per epoch by device (`experiment=lyrics_best`, {extra})",
        "",
        "One process per device; the first filled the feature cache the others read. "
        "Per epoch = Lightning's fit time (training and every val set) / epochs."
        + ("" if part.get("gpu") else " No GPU on this machine: CPU only."),
        "",
        *_table(["device", "epochs", "per epoch", "fit", "whole process", "vs CPU"], rows),
    ]


def render_features(part: dict[str, Any], full: bool) -> list[str]:
    """Featurization cost per feature set."""
    rows = []
    for r in part["rows"]:
        name = f"`features={r['features']}`"
        if "error" in r:
            rows.append([name, "—", "—", "—", "—", f"not measured: {r['error']}"])
            continue
        rows.append(
            [
                name,
                str(r["dim"]),
                _secs(r["first_song_s"]),
                f"{r['ms_per_song']:.1f} ms",
                f"{r['lines_per_s']:,.0f}",
                f"median of {_runs(len(r['runs_s']))} over {r['songs'] - 1} songs",
            ]
        )
    return [
        "### Featurization cost (in process, no cache)",
        "",
        "The first song apart (it loads what the views need, e.g. the sentence-embedding "
        "model), then the others of the corpus's first songs.",
        "",
        *_table(["features", "dim", "first song", "per song", "lines/s", "runs"], rows),
    ]


def render_quoted() -> list[str]:
    """Figures quoted from elsewhere, with their source."""
    keys = [k for k, _ in COLUMNS if any(k in q["metrics"] for q in QUOTED)]
    head = ["quoted figures", *(h for k, h in COLUMNS if k in keys), "source and protocol"]
    rows = [[q["what"], *(_num(q["metrics"].get(k)) for k in keys), q["source"]] for q in QUOTED]
    return [
        "### Quoted, not measured here",
        "",
        "Not comparable with the tables above: another protocol, data split and scorer.",
        "",
        *_table(head, rows),
    ]


RENDERERS = {
    "cv": render_cv,
    "ablation": render_ablation,
    "speed": render_speed,
    "first_run": render_first_run,
    "sections": render_sections,
    "stanzas": render_stanzas,
    "seeds": render_seeds,
    "errors": render_errors,
    "long": render_long,
    "load": render_load,
    "losses": render_losses,
    "gpu": render_gpu,
    "features": render_features,
}
#: Parts the README block shows (docs/results.md shows all).
README_PARTS = (
    "cv",
    "ablation",
    "sections",
    "stanzas",
    "seeds",
    "speed",
    "first_run",
    "load",
    "gpu",
)
#: Parts the model card's block shows.
MODEL_CARD_PARTS = ("cv", "sections", "seeds")


def rendered_parts(text: str) -> dict[str, str]:
    """The text of each part rendered into ``text`` earlier, by part name (markers apart)."""
    return {m.group(1): m.group(2) for m in _PART.finditer(text)}


def render(
    bench: dict[str, Any],
    full: bool = True,
    selection: tuple[str, ...] = README_PARTS,
    kept: dict[str, str] | None = None,
) -> str:
    """Markdown for a bench file: every part (``full``) or a block's ``selection``.

    Args:
        bench: The bench file's content.
        full: Every part (``docs/results.md``), else only ``selection``.
        selection: The parts of a block.
        kept: Text rendered earlier for parts the bench file does not hold
            (:func:`rendered_parts` of the file being rewritten).
    """
    parts = bench.get("parts", {})
    kept = kept or {}
    out: list[str] = []
    if full:
        out += [
            "# Results",
            "",
            "<!-- Generated by `python -m benchmarks.run` from bench-results/bench.json. "
            "Do not edit: rerun `make bench` or `python -m benchmarks.run --render`. -->",
            "",
        ]
    if any(p.get("meta", {}).get("quick") for p in parts.values()):
        out += ["**Quick run (`--quick`): a smoke check of the bench, not a result.**", ""]
    names = [n for n in RENDERERS if (n in parts or n in kept) and (full or n in selection)]
    if not names:
        out += ["No benchmark results yet: run `make bench`.", ""]
    for name in names:
        out.append(PART_START.format(name))
        if name not in parts:
            out += kept[name].rstrip("\n").split("\n")
        elif "error" in parts[name]:
            out += [f"### {name}", "", f"Not measured: {parts[name]['error']}"]
        else:
            out += RENDERERS[name](parts[name], full)
            if "meta" in parts[name]:
                out += ["", f"<sub>Measured by {_provenance(parts[name]['meta'])}</sub>"]
        out += [PART_END, ""]
    out += render_quoted()
    if full:  # a page of its own: sections one level up
        out = [line.replace("### ", "## ", 1) if line.startswith("### ") else line for line in out]
    else:
        out += [
            "",
            "Per-fold figures and long songs: [docs/results.md](docs/results.md).",
        ]
    return "\n".join(out).rstrip() + "\n"


def replace_block(text: str, block: str, name: str = "README.md") -> str:
    """Replace what stands between the bench markers of ``text`` with ``block``.

    Raises:
        LyricsegError: When a marker is missing, repeated or out of order.
    """
    starts, ends = text.count(START), text.count(END)
    if starts != 1 or ends != 1 or text.index(START) > text.index(END):
        raise LyricsegError(
            f"{name} needs exactly one '{START}' line followed by one '{END}' line where "
            f"the generated results go (found {starts} and {ends}); nothing was written"
        )
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block.rstrip()}\n{END}{tail}"


def publish(
    bench: dict[str, Any], docs: Path | None, readme: Path | None, model_card: Path | None = None
) -> None:
    """Write ``docs`` whole and the blocks of the README and the model card, atomically.

    The blocks' markers are checked before anything is written, so a missing marker leaves
    every file as it was.

    Raises:
        LyricsegError: When a block's markers are missing or misplaced.
    """
    blocks = {}
    for path, selection in ((readme, README_PARTS), (model_card, MODEL_CARD_PARTS)):
        if path is not None:
            old = path.read_text(encoding="utf-8")
            earlier = old.split(START, 1)[-1].split(END, 1)[0]  # checked by replace_block
            text = render(bench, full=False, selection=selection, kept=rendered_parts(earlier))
            blocks[path] = replace_block(old, text, str(path))
    if docs is not None:
        kept = rendered_parts(docs.read_text(encoding="utf-8")) if docs.exists() else {}
        with atomic_write(docs) as handle:
            handle.write(render(bench, full=True, kept=kept))
    for path, text in blocks.items():
        with atomic_write(path) as handle:
            handle.write(text)


def rerender(
    bench_file: Path, docs: Path, readme: Path | None, model_card: Path | None = None
) -> None:
    """Re-render the results from an existing ``bench.json`` (see :func:`publish`).

    A ``model_card`` that does not exist is skipped.

    Raises:
        LyricsegError: When the bench file cannot be read or a block's markers are wrong.
    """
    try:
        bench = json.loads(bench_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise LyricsegError(f"cannot read {bench_file}: {err} (run `make bench` first)") from None
    card = model_card if readme is not None and model_card and model_card.exists() else None
    publish(bench, docs, readme, card)
