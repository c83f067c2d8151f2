"""The stanza-border and error-analysis parts of the bench, and the by-artist stanza split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import TINY

from benchmarks import render, run
from benchmarks.errors import (
    REPETITION_BUCKETS,
    analyse_errors,
    blocks,
    repetition_bucket,
    song_errors,
    source_of,
)
from benchmarks.stanzas import (
    HALF,
    HALF_AS_TEXT,
    every_n_starts,
    guess_language,
    hidden_recall,
    score_starts,
    with_some_breaks,
)
from lyricseg.commands.stanzas import main as split_main
from lyricseg.data import Song, read_jsonl
from lyricseg.data.songs import DataError
from lyricseg.data.stanzas import (
    artist_key,
    held_out_artist,
    stanza_split,
    write_stanza_split,
)
from lyricseg.utils.errors import LyricsegError

F, T = False, True


# -- errors: each type on hand-made arrays ----------------------------------------------
def test_blocks_are_maximal_runs():
    assert blocks([0, 0, 1, 1, 1, 0]) == [(0, 2, 0), (2, 5, 1), (5, 6, 0)]
    assert blocks([]) == []


def test_missed_and_extra_chorus_blocks():
    gold = [0, 0, 1, 1, 0, 0, 1, 1, 0, 0]
    pred = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]  # first chorus missed, second found and overrun
    c = song_errors(gold, pred, [F] * 10)
    assert c["gold_chorus_blocks"] == 2 and c["missed_chorus"] == 1
    assert c["pred_chorus_blocks"] == 1 and c["extra_chorus"] == 0  # it overlaps a gold chorus
    c = song_errors([0, 0, 0, 0, 1, 1], [1, 1, 0, 0, 1, 1], [F] * 6)
    assert c["extra_chorus"] == 1 and c["pred_chorus_blocks"] == 2 and c["missed_chorus"] == 0


def test_borders_off_by_one_and_two():
    c = song_errors([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1], [F] * 6)
    assert (c["gold_borders"], c["border_off_by_1"], c["border_off_by_2"]) == (1, 1, 0)
    c = song_errors([0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 1, 1], [F] * 6)
    assert (c["border_off_by_1"], c["border_off_by_2"]) == (0, 1)
    c = song_errors([0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 1, 1, 1, 1], [F] * 8)
    assert (c["border_off_by_1"], c["border_off_by_2"]) == (0, 0)  # three lines off: neither
    exact = song_errors([0, 0, 1, 1], [0, 0, 1, 1], [F] * 4)
    assert (exact["border_off_by_1"], exact["border_off_by_2"], exact["gold_borders"]) == (0, 0, 1)


def test_a_predicted_border_matches_one_gold_border_the_nearest_first():
    # gold borders at 3 and 6, one predicted border at 5: one line from 6, two from 3
    gold = [0, 0, 0, 1, 1, 1, 0, 0]
    pred = [0, 0, 0, 0, 0, 1, 1, 1]
    c = song_errors(gold, pred, [F] * 8)
    assert (c["gold_borders"], c["border_off_by_1"], c["border_off_by_2"]) == (2, 1, 0)


def test_repeated_verse_called_chorus_needs_repeated_text():
    gold = [0, 0, 0, 0, 1, 1]
    pred = [1, 1, 0, 0, 1, 1]
    assert song_errors(gold, pred, [T, T, F, F, T, T])["repeated_verse_as_chorus"] == 1
    assert song_errors(gold, pred, [T, F, F, F, T, T])["repeated_verse_as_chorus"] == 1  # half
    assert song_errors(gold, pred, [F, F, F, F, T, T])["repeated_verse_as_chorus"] == 0
    # verse lines inside a predicted chorus block that also covers the gold chorus count too,
    # unless they are a border slip of one or two lines (counted as a border off by one/two)
    c = song_errors([0, 0, 0, 1, 1], [1, 1, 1, 1, 1], [T, T, T, T, T])
    assert c["repeated_verse_as_chorus"] == 1 and c["extra_chorus"] == 0
    c = song_errors([0, 0, 0, 1, 1], [0, 1, 1, 1, 1], [T, T, T, T, T])
    assert c["repeated_verse_as_chorus"] == 0 and c["border_off_by_2"] == 1
    c = song_errors([1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [T, T, T, T, T])
    assert c["repeated_verse_as_chorus"] == 0 and c["border_off_by_1"] == 1


def test_chorus_that_never_repeats_is_counted_from_the_gold_alone():
    gold = [0, 1, 1, 0, 1, 1]
    c = song_errors(gold, [0, 0, 0, 0, 1, 1], [F, F, F, F, T, T])
    assert c["chorus_never_repeats"] == 1 and c["chorus_never_repeats_missed"] == 1
    c = song_errors(gold, gold, [F, F, F, F, T, T])
    assert c["chorus_never_repeats"] == 1 and c["chorus_never_repeats_missed"] == 0
    assert c["missed_chorus"] == 0


def test_sources_and_repetition_buckets():
    assert source_of("poplyrics_21") == "poplyrics" and source_of("lyr2vec_211") == "lyr2vec"
    assert source_of("lyricsdb-06d7de2b60") == "lyricsdb"
    assert source_of("training_data_0581") == "training_data"
    assert source_of("MT0001193202") == "mt"
    assert source_of("1234") == "other"
    assert [repetition_bucket(x) for x in (0.0, 0.19, 0.2, 0.39, 0.4, 1.0)] == [
        "< 0.2",
        "< 0.2",
        "0.2–0.4",
        "0.2–0.4",
        "≥ 0.4",
        "≥ 0.4",
    ]
    assert [b[0] for b in REPETITION_BUCKETS] == ["< 0.2", "0.2–0.4", "≥ 0.4"]


def test_analyse_errors_on_the_tiny_corpus():
    songs = read_jsonl(TINY / "val.jsonl")
    perfect = analyse_errors(songs, [{"id": s.id, "labels": list(s.labels)} for s in songs])
    counts = perfect["all"]["counts"]
    assert perfect["all"]["songs"] == len(songs) and perfect["all"]["macro_f1"] == 1.0
    assert counts["gold_chorus_blocks"] > 0
    for key in ("missed_chorus", "extra_chorus", "border_off_by_1", "repeated_verse_as_chorus"):
        assert counts[key] == 0
    verse_only = analyse_errors(songs, [{"id": s.id, "labels": [0] * len(s)} for s in songs])
    counts = verse_only["all"]["counts"]
    assert counts["missed_chorus"] == counts["gold_chorus_blocks"]
    assert counts["pred_chorus_blocks"] == 0
    assert sum(g["songs"] for g in verse_only["by_source"].values()) == len(songs)
    assert sum(g["songs"] for g in verse_only["by_repetition"].values()) == len(songs)
    assert {w["id"] for w in verse_only["worst"]} <= {s.id for s in songs}
    assert verse_only["worst"][0]["macro_f1"] <= verse_only["worst"][-1]["macro_f1"]
    wrong_gold = [{"id": s.id, "labels": [0] * len(s), "gold": [0] * len(s)} for s in songs]
    with pytest.raises(LyricsegError, match="other labels"):
        analyse_errors(songs, wrong_gold)


def _write_oof(folder: Path, songs: list[Song], flip_every: int) -> None:
    """Out-of-fold records in the cv part's format, every ``flip_every``-th label flipped."""
    folder.mkdir(parents=True)
    with (folder / "default.oof.jsonl").open("w") as handle:
        for k, song in enumerate(songs):
            labels = [1 - x if (i + k) % flip_every == 0 else x for i, x in enumerate(song.labels)]
            record = {"id": song.id, "fold": k % 2, "gold": list(song.labels), "labels": labels}
            handle.write(json.dumps({**record, "probs": [float(x) for x in labels]}) + "\n")


def test_errors_part_reads_out_of_fold_predictions(tmp_path):
    songs = [*read_jsonl(TINY / "train.jsonl"), *read_jsonl(TINY / "val.jsonl")]
    _write_oof(tmp_path / "oof", songs, flip_every=5)
    out = tmp_path / "out"
    argv = ["--parts", "errors", "--errors-from", str(tmp_path / "oof"), "--corpus", str(TINY)]
    assert run.main([*argv, "--out", str(out), "--no-publish"]) == 0
    part = json.loads((out / "bench.json").read_text())["parts"]["errors"]
    recipe = part["recipes"]["default"]
    assert recipe["all"]["songs"] == len(songs) and part["predictions"] == "out-of-fold"
    assert recipe["label"].startswith("defaults")
    records = [json.loads(x) for x in (tmp_path / "oof" / "default.oof.jsonl").open()]
    assert recipe == {
        "label": recipe["label"],
        **json.loads(json.dumps(analyse_errors(songs, records))),
    }
    md = (out / "bench.md").read_text()
    assert "Error types" in md and "lowest macro F1" in md and recipe["worst"][0]["id"] in md


def test_errors_part_refuses_a_folder_without_predictions(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = ["--parts", "errors", "--errors-from", str(tmp_path / "empty"), "--corpus", str(TINY)]
    assert run.main([*argv, "--out", str(tmp_path / "out"), "--no-publish"]) == 1
    part = json.loads((tmp_path / "out" / "bench.json").read_text())["parts"]["errors"]
    assert "holds no <recipe>.oof.jsonl" in part["error"]


# -- the stanza split --------------------------------------------------------------------
def _stanza_song(song_id: str, stanzas: int = 3, size: int = 4) -> dict:
    lines: list[str] = []
    for j in range(stanzas):
        lines += [""] if j else []
        lines += [f"{song_id} stanza {j} line {i} of the night" for i in range(size)]
    return {"id": song_id, "lines": lines}


def test_stanza_split_is_by_artist_stable_and_about_a_fifth():
    artists = [f"Band {k}" for k in range(1000)]
    held = [a for a in artists if held_out_artist(a)]
    assert 0.16 < len(held) / len(artists) < 0.24
    assert held_out_artist("The Band 7") == held_out_artist("band  7") == ("Band 7" in held)
    assert artist_key("The  Cure") == "cure"
    songs = [Song(id=f"s{k}", lines=("a", "b")) for k in range(60)]
    meta = [{"id": f"s{k}", "artist": artists[k % 20]} for k in range(60)]
    train, test = stanza_split(songs, meta)
    by_id = {m["id"]: m["artist"] for m in meta}
    assert {by_id[s.id] for s in train}.isdisjoint({by_id[s.id] for s in test})
    assert len(train) + len(test) == 60 and test
    assert [s.id for s in test] == [s.id for s in songs if by_id[s.id] in held]
    # a subset splits the same way: the side depends on the artist alone
    sub_train, sub_test = stanza_split(songs[:10], by_id)
    assert [s.id for s in sub_test] == [s.id for s in test if int(s.id[1:]) < 10]
    with pytest.raises(DataError, match="no artist"):
        stanza_split([Song(id="lost", lines=("a",))], meta)


def _stanza_corpus(folder: Path) -> tuple[list[str], list[str]]:
    """Invented stanza corpus: 3 songs each of 3 held-out and 3 kept artists."""
    names = [f"Invented Artist {k}" for k in range(200)]
    held = [a for a in names if held_out_artist(a)][:3]
    kept = [a for a in names if not held_out_artist(a)][:3]
    folder.mkdir(parents=True)
    records, meta = [], []
    for a, artist in enumerate([*held, *kept]):
        for k in range(3):
            song_id = f"inv-{a}-{k}"
            records.append(_stanza_song(song_id, stanzas=2 + k, size=3 + a % 3))
            meta.append({"id": song_id, "artist": artist, "title": "t", "album": "x"})
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "train.meta.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta))
    return held, kept


def test_write_stanza_split_materializes_train_and_val(tmp_path, capsys):
    _stanza_corpus(tmp_path / "src")
    assert split_main(["--source", str(tmp_path / "src"), str(tmp_path / "split")]) == 0
    assert "val 9 songs (3 artists)" in capsys.readouterr().out
    train = read_jsonl(tmp_path / "split" / "train.jsonl", require_labels=False)
    val = read_jsonl(tmp_path / "split" / "val.jsonl", require_labels=False)
    assert len(train) == len(val) == 9
    assert all(s.id.startswith(("inv-0-", "inv-1-", "inv-2-")) for s in val)
    assert val[0].breaks == (3,) and "" not in val[0].lines  # breaks kept, blanks dropped
    assert json.loads((tmp_path / "split" / "split.json").read_text())["val"]["artists"] == 3
    with pytest.raises(LyricsegError, match="overwrite its source"):
        write_stanza_split(tmp_path / "src", tmp_path / "src")
    assert split_main(["--source", str(tmp_path / "nowhere"), str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_cv_cleans_a_stanza_corpus_and_keeps_its_artists(tmp_path):
    """The CV bench's copy of an extra corpus keeps train.meta.jsonl, so the held-out
    artists stay out of every fold's training (data.hold_out_artists)."""
    from benchmarks.cv import clean_extra_dirs

    _stanza_corpus(tmp_path / "src")
    first = read_jsonl(tmp_path / "src" / "train.jsonl", require_labels=False)[0]
    main = [Song(id="main", lines=first.lines, labels=(0,) * len(first))]
    dirs, dropped = clean_extra_dirs([tmp_path / "src"], main, tmp_path / "work", 0.5)
    assert dropped == {str(tmp_path / "src"): 1} and dirs[0] != tmp_path / "src"
    meta = (tmp_path / "src" / "train.meta.jsonl").read_text()
    assert (dirs[0] / "train.meta.jsonl").read_text() == meta


def test_a_malformed_meta_line_is_named(tmp_path, capsys):
    _stanza_corpus(tmp_path / "src")
    meta = tmp_path / "src" / "train.meta.jsonl"
    lines = meta.read_text().splitlines()
    for bad, reason in (("[" * 100_000, "nested too deeply"), ("{oops", "malformed JSON")):
        meta.write_text("\n".join([lines[0], bad, *lines[1:]]) + "\n")
        assert split_main(["--source", str(tmp_path / "src"), str(tmp_path / "split")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {meta}:2: malformed JSON") and reason in err


# -- stanza scoring ----------------------------------------------------------------------
def test_language_guess():
    assert guess_language(["I know that you are the one", "and it's all for you"]) == "en"
    assert guess_language(["Ich weiß nicht, wer du bist", "und wir sind noch hier"]) == "de"
    assert guess_language(["Yo quiero todo el amor", "porque sin ti no soy nada"]) == "es"
    assert guess_language(["Je suis avec toi dans la nuit", "et tout est pour moi"]) == "fr"
    assert guess_language(["Ooh", "Na na na"]) == "other"


def test_score_starts_exact_tolerant_and_baseline():
    perfect = score_starts([[0, 4]], [[0, 4]], [8])
    assert perfect["border_f1"] == perfect["border_f1_tol1"] == 1.0
    assert perfect["window_diff"] == 0.0 and perfect["pred_per_gold"] == 1.0
    near = score_starts([[0, 5]], [[0, 4]], [8])
    assert near["border_f1"] == 0.0 and near["border_f1_tol1"] == 1.0 and near["window_diff"] > 0
    assert every_n_starts(10) == [0, 4, 8]
    base = score_starts([every_n_starts(12)], [[0, 4, 6]], [12])
    assert base["border_precision"] == 0.5 and base["border_recall"] == 0.5
    assert (base["gold_borders"], base["pred_borders"]) == (2, 2)


def test_half_of_the_breaks_and_the_recall_of_the_others():
    songs = [
        Song(id=f"s{k}", lines=("x",) * 12, breaks=(2, 4, 6, 8, 10)[: k + 1]) for k in range(5)
    ]
    half = with_some_breaks(songs, seed=3)
    assert [len(s.breaks) for s in half] == [1, 1, 2, 2, 3]  # rounded up
    assert all(set(h.breaks) <= set(s.breaks) for h, s in zip(half, songs, strict=True))
    assert half == with_some_breaks(songs, seed=3)
    assert not any(s.breaks_complete for s in half)  # the others unknown, not "no break"
    as_text = with_some_breaks(songs, seed=3, complete=True)
    assert [s.breaks for s in as_text] == [s.breaks for s in half]
    assert all(s.breaks_complete for s in as_text)
    gold = [[0, 4, 8]]
    given = [Song(id="a", lines=("x",) * 10, breaks=(4,))]
    assert hidden_recall([[0, 4]], gold, given) == 0.0  # only repeats what it was told
    assert hidden_recall([[0, 4, 8]], gold, given) == 1.0


def test_stanzas_part_scores_the_shipped_model_told_more_and_more(tmp_path):
    """The shipped model, in process, on invented held-out songs; and the errors part's
    fallback: the same model on labelled songs when there are no out-of-fold predictions."""
    _stanza_corpus(tmp_path / "stanzas")
    out = tmp_path / "out"
    argv = ["--parts", "stanzas,errors", "--stanzas", str(tmp_path / "stanzas")]
    argv += ["--corpus", str(TINY), "--errors-songs", str(TINY / "val.jsonl")]
    assert run.main([*argv, "--out", str(out), "--no-publish"]) == 0
    parts = json.loads((out / "bench.json").read_text())["parts"]
    part = parts["stanzas"]
    assert part["songs"] == 9 and part["split"]["held_out_songs"] == 9 and part["ckpt"] is None
    rows = part["rows"]
    assert list(rows) == [
        "a border every 4 lines (baseline)",
        "without breaks",
        HALF,
        HALF_AS_TEXT,
        "with all its breaks",
    ]
    songs = [
        s
        for s in read_jsonl(tmp_path / "stanzas" / "train.jsonl", require_labels=False)
        if s.id.startswith(("inv-0-", "inv-1-", "inv-2-"))
    ]
    gold = [[0, *s.breaks] for s in songs]
    lengths = [len(s) for s in songs]
    baseline = score_starts([every_n_starts(n) for n in lengths], gold, lengths)
    assert rows["a border every 4 lines (baseline)"] == pytest.approx(baseline)
    assert all(r["gold_borders"] == sum(len(g) - 1 for g in gold) for r in rows.values())
    assert rows["with all its breaks"]["border_f1"] >= rows[HALF_AS_TEXT]["border_f1"]
    assert sum(x["songs"] for x in part["languages"].values()) == 9
    errors = parts["errors"]
    assert errors["predictions"] == "model" and errors["recipes"]["model"]["all"]["songs"] == len(
        read_jsonl(TINY / "val.jsonl")
    )
    md = (out / "bench.md").read_text()
    assert "Stanza borders (9 songs of held-out artists" in md
    assert "Error types (the shipped model)" in md and "on `tiny/val.jsonl`" in md


def test_readme_block_shows_the_stanza_table():
    part = {
        "corpus": "/x/stanzas",
        "ckpt": None,
        "split": {"held_out_share": 0.2, "train_songs": 8, "held_out_songs": 2},
        "seed": 0,
        "songs": 2,
        "rows": {"without breaks": {"border_f1": 0.5, "hidden_recall": 0.25}},
        "languages": {"en": {"songs": 2, "rows": {"without breaks": {"border_f1": 0.5}}}},
    }
    block = render.render({"parts": {"stanzas": part}}, full=False)
    assert "### Stanza borders (2 songs" in block and "| without breaks | — | — | 0.500 |" in block


# -- seeds: one model per training seed, scored on the held-out sets ---------------------
def test_seeds_part_trains_one_model_per_seed_and_reports_their_spread(tmp_path):
    """Two tiny ``lyrics_best`` models (seeds 0 and 1), each scored on sectioned val songs
    and the held-out stanza artists; the speed part times the same two trainings."""
    from support import RESOURCES, TINY_MODEL

    _stanza_corpus(tmp_path / "stanzas")
    out = tmp_path / "out"
    argv = ["--parts", "seeds,speed", "--model-seeds", "0,1", "--repeats", "1"]
    argv += ["--corpus", str(TINY), "--stanzas", str(tmp_path / "stanzas")]
    argv += ["--sections-val", str(RESOURCES / "tiny_sections" / "val.jsonl")]
    argv += ["--threads", "1", "--epochs", "2", "--out", str(out), "--no-publish"]
    quiet = ["logger=none", "callbacks.validation_images=null", "callbacks.lr_monitor=null"]
    for override in [*TINY_MODEL, *quiet]:
        argv += ["--override", override]
    assert run.main(argv) == 0
    parts = json.loads((out / "bench.json").read_text())["parts"]
    part = parts["seeds"]
    assert [r["seed"] for r in part["rows"]] == [0, 1]
    assert part["stanza_songs"] == 9
    for row in part["rows"]:
        assert row["epochs"] == 2 and row["train_wall_s"] > 0
        assert set(row["scores"]) == {
            *(f"sections/{k}" for k in run.SEED_SECTION_KEYS),
            *(f"stanzas/{k}" for k in run.SEED_STANZA_ROWS),
        }
    for key, stats in part["summary"].items():
        values = [r["scores"][key] for r in part["rows"]]
        assert stats["mean"] == pytest.approx(sum(values) / 2)
        assert stats["spread"] == pytest.approx(abs(values[0] - values[1]))
    # the speed part reuses the two trainings instead of training a third model
    (train,) = [r for r in parts["speed"]["rows"] if r["key"] == "train_lyrics_best"]
    assert train["runs_s"] == [r["train_wall_s"] for r in part["rows"]]
    md = (out / "bench.md").read_text()
    assert "### Training seeds" in md or "## Training seeds" in md
    assert "| spread (max − min) |" in md and "| seed 1 |" in md
