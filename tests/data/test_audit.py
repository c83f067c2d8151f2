import json

from support import CORPUS

from lyricseg.data.audit import main


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
