import json
import random

from support import CORPUS

from lyricseg.commands.audit import main
from lyricseg.data import Song
from lyricseg.data.audit import near_duplicate_pairs, normalized_lines


def test_audit_flags_long_lines_no_repetition_and_duplicates(tmp_path, capsys):
    songs = [
        {"id": "prose", "lines": ["word " * 100, "other " * 90], "labels": [0, 0]},
        {"id": "ok", "lines": ["la la", "verse", "la la"], "labels": [1, 0, 1]},
        {"id": "copy", "lines": ["La la!", "verse", "la la"], "labels": [1, 0, 1]},
        {"id": "odd", "lines": ["a b", "c d"], "labels": [0, 1]},
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in songs))
    before = path.read_bytes()
    assert main([str(path), "--max-chars", "300", "--json", str(tmp_path / "f.json")]) == 0
    out = capsys.readouterr().out
    findings = json.loads((tmp_path / "f.json").read_text())
    issues = {(f["id"], f["issue"]) for f in findings}
    assert ("prose", "very long lines") in issues
    assert ("odd", "no repetition") in issues and ("odd", "chorus without repetition") in issues
    assert ("copy", "duplicate song") in issues
    assert ("ok", "duplicate song") not in issues
    assert "very long lines" in out
    assert path.read_bytes() == before  # the data is never changed


def test_audit_bad_file_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text("{nope\n")
    assert main([str(path)]) == 2
    assert f"{path}:1: malformed JSON" in capsys.readouterr().err


def test_audit_real_corpus_finds_the_prose_records(corpus_dir):
    from lyricseg.data import read_jsonl
    from lyricseg.data.audit import audit_songs

    findings = audit_songs({"train": read_jsonl(CORPUS / "train.jsonl")})
    assert any(f["issue"] == "very long lines" for f in findings)


def _song(song_id: str, *lines: str) -> Song:
    return Song(id=song_id, lines=tuple(lines))


def _brute_force_share(a: Song, b: Song) -> float:
    """The definition, spelled out: lines of the shorter song found in the other one."""

    def norm(song: Song) -> list[str]:
        out = []
        for line in song.lines:
            kept = "".join(ch if ch.isalnum() or ch in "_'" else " " for ch in line.lower())
            if kept.split():
                out.append(" ".join(kept.split()))
        return out

    na, nb = norm(a), norm(b)
    if not na or not nb:
        return 0.0
    a_in_b = sum(line in set(nb) for line in na) / len(na)
    b_in_a = sum(line in set(na) for line in nb) / len(nb)
    if len(na) == len(nb):
        return max(a_in_b, b_in_a)
    return a_in_b if len(na) < len(nb) else b_in_a


def test_near_duplicates_within_and_across_files(tmp_path, capsys):
    base = ["Paper boats on the river", "Carry my name away", "Oh the river, oh", "Home by May"]
    train = [
        _song("t-orig", *base, "Oh the river, oh", "Home by May"),
        _song("t-other", "Lanterns over the harbour", "Carry my name away", "Salt in the air"),
        _song("t-variant", "PAPER BOATS ON THE RIVER!", "carry my name away", "new line", "x"),
    ]
    val = [
        # the same song in capitals with one line edited: 5 of its 6 lines occur in t-orig
        _song("v-copy", *[line.upper() for line in base[:3]], "Home by June", *base[2:]),
        _song("v-new", "Street lights humming", "Nobody waits", "Street lights humming"),
    ]
    for name, songs in (("train", train), ("val", val)):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": s.id, "lines": list(s.lines)}) + "\n" for s in songs)
        )
    out_json = tmp_path / "f.json"
    files = [str(tmp_path / "train.jsonl"), str(tmp_path / "val.jsonl")]
    assert main([*files, "--json", str(out_json)]) == 0
    found = {
        (f["id"], f["other_id"]): f["share"]
        for f in json.loads(out_json.read_text())
        if f["issue"] == "near-duplicate"
    }
    # t-orig vs v-copy (6 lines each): all 6 lines of t-orig occur in v-copy (the larger share)
    # t-orig vs t-variant (4 lines): 2 of 4 -> exactly 0.5, reported (threshold inclusive)
    # v-copy vs t-variant: 2 of 4; t-other shares 1 of 3 lines with t-orig: not reported
    assert found == {
        ("t-orig", "v-copy"): 1.0,
        ("t-orig", "t-variant"): 0.5,
        ("t-variant", "v-copy"): 0.5,
    }
    report = capsys.readouterr().out
    assert f"{files[0]} / {files[1]}: 2" in report and f"{files[0]} / {files[0]}: 1" in report
    assert "share 1.00 with v-copy" in report
    # a stricter threshold keeps only the real copy
    assert [(a, b) for a, b, _ in near_duplicate_pairs([*train, *val], 0.75)] == [(0, 3)]


def test_near_duplicate_share_matches_brute_force():
    rng = random.Random(3)
    vocab = [f"line {w} of {v}" for w in "abcdefg" for v in "xyz"] + ["...", "Line A of X!"]
    songs = [
        _song(f"s{i}", *(rng.choice(vocab) for _ in range(rng.randint(1, 9)))) for i in range(60)
    ]
    for threshold in (0.3, 0.5, 0.8, 1.0):
        fast = {(i, j): share for i, j, share in near_duplicate_pairs(songs, threshold)}
        slow = {
            (i, j): share
            for i in range(len(songs))
            for j in range(i + 1, len(songs))
            if (share := _brute_force_share(songs[i], songs[j])) >= threshold
        }
        assert fast.keys() == slow.keys() and len(slow) > 0
        assert all(abs(fast[k] - slow[k]) < 1e-12 for k in slow)


def test_near_duplicates_ignore_lines_empty_after_normalization():
    a = _song("a", "...", "!!!", "one true line", "?")
    b = _song("b", "...", "!!!", "?", "something else", "and more")
    assert near_duplicate_pairs([a, b], 0.1) == []  # punctuation-only lines never match
    assert normalized_lines(a) == ["one true line"]


def test_near_duplicate_threshold_is_checked(tmp_path, capsys):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "a", "lines": ["x"]}) + "\n")
    assert main([str(path), "--near", "1.5"]) == 2
    assert "threshold must be in (0, 1]" in capsys.readouterr().err


def test_real_corpus_has_train_val_near_duplicates(corpus_dir):
    from lyricseg.data import read_jsonl
    from lyricseg.data.audit import audit_songs

    files = {name: read_jsonl(corpus_dir / f"{name}.jsonl") for name in ("train", "val")}
    pairs = [f for f in audit_songs(files) if f["issue"] == "near-duplicate"]
    assert sum(f["file"] == "train" and f["other_file"] == "val" for f in pairs) >= 3
