import json
import os
from collections import Counter
from pathlib import Path

import pytest
import yaml
from support import REPO

from lyricseg.sections import (
    UNKNOWN_CLASS,
    SectionMap,
    cut_credits,
    default_map_path,
    default_section_map,
    header_parts,
    is_chorus,
    normalize_header,
    section_starts,
    strip_multipliers,
)
from lyricseg.utils import LyricsegError

SECTION_CLASSES = default_section_map().classes

EXTRA = Path(os.environ.get("LYRICSEG_EXTRA_DIR", REPO.parent / "shared" / "data" / "extra"))

CASES = [
    ("Verse 1", "verse"),
    ("[Verse 2: Singer A & Singer B]", "verse"),
    ("Verse III", "verse"),
    ("Verse 2 - Remix", "verse"),
    ("Verse 1 (cont'd)", "verse"),
    ("Pre-Chorus", "pre-chorus"),
    ("Pre Hook", "pre-chorus"),
    ("prechorus 2", "pre-chorus"),
    ("Chorus", "chorus"),
    ("CHORUS 2", "chorus"),
    ("[Chorus x2]", "chorus"),
    ("Chorus 2x", "chorus"),
    ("Chorus (x3)", "chorus"),
    ("Chorus (Extended", "chorus"),
    ("Final Chorus", "chorus"),
    ("Hook", "chorus"),
    ("Refrain 2", "chorus"),
    ("(Chorus)", "chorus"),
    ("Chorus/Outro", "chorus"),
    ("Post-Chorus", "post-chorus"),
    ("Post Hook 2", "post-chorus"),
    ("Post-Chorus - Instrumental", "post-chorus"),
    ("Intro", "intro"),
    ("Intro/Bridge", "intro"),
    ("Spoken Intro", "intro"),
    ("Outro", "outro"),
    ("Outro over chorus", "outro"),
    ("Bridge", "bridge"),
    ("Bridge/Outro", "bridge"),
    ("Middle 8", "bridge"),
    ("Instrumental Bridge", "bridge"),
    ("Interlude", "other"),
    ("Breakdown", "other"),
    ("Break / Bridge", "other"),
    ("Drop 2", "other"),
    ("Skit", "other"),
    ("Skit/Outro", "other"),
    ("Spoken Word", "other"),
    ("Instrumental", "other"),
    ("Guitar Solo", "other"),
    ("Pre-Verse", "other"),
    ("Ad-Libs", "other"),
    ("Singer A", None),
    ("Produced by Somebody", None),
    ("?", None),
    ("", None),
]


@pytest.mark.parametrize(("header", "expected"), CASES)
def test_packaged_map_classifies_real_header_shapes(header, expected):
    assert default_section_map().classify(header) == expected


def test_classes_ids_and_chorus_classes():
    assert SECTION_CLASSES == (
        "intro", "verse", "pre-chorus", "chorus", "post-chorus", "bridge", "outro", "other",
    )  # fmt: skip
    smap = default_section_map()
    assert smap.class_id("Hook") == 3 and smap.class_id("Post-Chorus") == 4
    assert smap.class_id("Singer A") == UNKNOWN_CLASS == -1
    assert [c for c in SECTION_CLASSES if is_chorus(c)] == ["chorus", "post-chorus"]
    assert not is_chorus(None) and not is_chorus("pre-chorus")
    assert smap.label("Refrain") == 1 and smap.label("Pre-Chorus 2") == 0
    assert smap.label("Unknown Person") == 0


def test_normalization_steps():
    assert cut_credits("[Chorus x2: A & B]") == "Chorus x2"
    assert cut_credits("Verse 1") == "Verse 1"
    assert strip_multipliers("Chorus (x2)") == "Chorus"
    assert strip_multipliers("Hook 2x") == "Hook"
    assert strip_multipliers("Chorus \u00d73") == "Chorus"
    assert strip_multipliers("Verse 2") == "Verse 2"  # a number is not a multiplier
    assert normalize_header("[Verse 2 \u2013 Remix (x2): Singer]") == "verse - remix"
    assert normalize_header("Middle 8") == "middle"
    assert header_parts("Bridge/Outro") == ["bridge", "outro"]
    assert header_parts("Verse 2 - Remix") == ["verse", "remix"]
    assert header_parts("Pre-Chorus") == ["pre-chorus"]  # a dash inside a word stays
    assert header_parts("") == []


def test_section_starts_follow_headers_as_written():
    headers = ["", "Verse 1", "Verse 1", "Verse 2", "Chorus", "Chorus", "Verse 2"]
    assert section_starts(headers) == [1, 1, 0, 1, 1, 0, 1]
    assert section_starts([]) == []
    # Two chorus blocks in a row merge unless the header lines are known.
    assert section_starts(["Chorus", "Chorus"]) == [1, 0]
    assert section_starts(["Chorus", "Chorus"], header_above=[True, True]) == [1, 1]
    with pytest.raises(LyricsegError, match="2 headers but 1 header flags"):
        section_starts(["a", "b"], header_above=[True])


def write_map(tmp_path, data) -> Path:
    path = tmp_path / "map.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def test_user_map_from_a_path(tmp_path):
    path = write_map(
        tmp_path,
        "rules:\n"
        "  - class: chorus\n"
        "    patterns: ['\\bchant\\b']\n"
        "  - class: verse\n"
        "    patterns: ['\\bverse\\b']\n",
    )
    smap = SectionMap.load(path)
    assert smap.source == str(path)
    assert smap.classes == SECTION_CLASSES
    assert smap.classify("Chant 2") == "chorus" and smap.label("Chant") == 1
    assert smap.classify("Chorus") is None  # only the user's rules apply


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  - class: chorsu\n    patterns: [x]\n", r"map.yaml:2: rule 1: class 'chorsu'"),
        (
            "rules:\n  - class: verse\n    patterns: [v]\n  - class: verse\n    patterns: ['(']\n",
            r"map.yaml:4: rule 2: pattern '\(' is not a valid regular expression",
        ),
        ("rules:\n  - class: verse\n    pattern: [v]\n", r"map.yaml:2: rule 1: expected keys"),
        ("rules: [\n", r"map.yaml:2: invalid YAML"),
        ("rules: []\n", "'rules' must be a non-empty list"),
        ("- a\n", "must be a YAML mapping"),
        (
            "classes: [verse, chorus]\nrules:\n  - {class: verse, patterns: [v]}\n",
            "must be exactly",
        ),
        (
            "colour: red\nrules:\n  - {class: verse, patterns: [v]}\n",
            r"unknown key\(s\) \['colour'\]",
        ),
        ("chorus_classes: [hook]\nrules:\n  - {class: verse, patterns: [v]}\n", "chorus_classes"),
        ("version: 2\nrules:\n  - {class: verse, patterns: [v]}\n", "version 2"),
        ("rules:\n  - {class: verse, patterns: []}\n", "non-empty list of regexes"),
    ],
)
def test_invalid_maps_name_the_file(tmp_path, text, message):
    path = write_map(tmp_path, text)
    with pytest.raises(LyricsegError, match=message) as err:
        SectionMap.load(path)
    assert str(path) in str(err.value)


def test_missing_map_file(tmp_path):
    with pytest.raises(LyricsegError, match="cannot read section map .*nope.yaml"):
        SectionMap.load(tmp_path / "nope.yaml")


def test_packaged_yaml_is_the_module_source():
    assert default_map_path().name == "sections.yaml"
    assert default_map_path().parent == Path(__file__).resolve().parents[1] / "src/lyricseg"
    data = yaml.safe_load(default_map_path().read_text())
    assert tuple(data["classes"]) == SECTION_CLASSES
    # every class is reachable by some rule
    assert {rule["class"] for rule in data["rules"]} == set(SECTION_CLASSES)


def test_real_extra_corpus_headers_are_mapped():
    """The packaged map covers the extra corpus and agrees with its chorus labels."""
    files = [EXTRA / "train.jsonl", EXTRA / "val.jsonl"]
    if not all(f.exists() for f in files):
        pytest.skip(f"extra corpus not found at {EXTRA} (set LYRICSEG_EXTRA_DIR)")
    smap = default_section_map()
    lines = unmapped = disagree = 0
    unmapped_headers: Counter = Counter()
    for file in files:
        for raw in file.read_text(encoding="utf-8").splitlines():
            record = json.loads(raw)
            for header, label in zip(record["sections"], record["labels"], strict=True):
                lines += 1
                if smap.classify(header) is None:
                    unmapped += 1
                    unmapped_headers[header] += 1
                disagree += smap.label(header) != label
    assert lines > 80_000
    assert unmapped / lines < 0.003, unmapped_headers.most_common(10)
    # "Outro/Chorus"-style headers are outros here and chorus in the corpus's own labels.
    assert disagree / lines < 0.001


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "rules:\n  - {class: verse, patterns: [v]}\n"
            "rules:\n  - {class: chorus, patterns: [c]}\n",
            3,
        ),
        ("rules:\n  - class: verse\n    patterns: [v]\n    class: chorus\n", 4),
        (
            "chorus_classes: [chorus]\nchorus_classes: [verse]\n"
            "rules:\n  - {class: verse, patterns: [v]}\n",
            2,
        ),
    ],
)
def test_a_key_given_twice_is_refused(tmp_path, text, line):
    # A plain YAML loader silently keeps the last value.
    path = write_map(tmp_path, text)
    with pytest.raises(LyricsegError, match=rf"map.yaml:{line}: invalid YAML .*given twice"):
        SectionMap.load(path)


HEADER_LINES = [
    # bracketed: always a header, credits cut, multiplier kept
    ("[Chorus x2: Singer & Other]", "Chorus x2"),
    ("[Produced by Somebody]", "Produced by Somebody"),
    ("[Chorus] x2", "Chorus x2"),
    ("[Chorus] (x2)", "Chorus (x2)"),
    ("[]", ""),
    # marked section names
    ("(Chorus)", "Chorus"),
    ("(Chorus x2)", "Chorus x2"),
    ("(Chorus (x2))", "Chorus (x2)"),
    ("(Hook: Singer)", "Hook"),
    ("(Chorus: Singer) x2", "Chorus x2"),
    ("Verse 1:", "Verse 1"),
    ("Chorus (x2):", "Chorus (x2)"),
    ("Repeat Chorus:", "Repeat Chorus"),
    ("(Repeat Chorus)", "Repeat Chorus"),
    ("2nd Verse:", "2nd Verse"),
    ("#CHORUS", "CHORUS"),
    ("# Verse 2", "Verse 2"),
    ("Chorus x2", "Chorus x2"),
    ("(Instrumental Bridge)", "Instrumental Bridge"),
    ("Estribillo:", "Estribillo"),
    ("Coro:", "Coro"),
    ("Refrão:", "Refrão"),
    ("Refrain :", "Refrain"),
    ("Couplet 1 :", "Couplet 1"),
    ("Strophe 2:", "Strophe 2"),
    ("Ritornello:", "Ritornello"),
    ("Pont:", "Pont"),
    ("(Puente)", "Puente"),
    ("Ponte:", "Ponte"),
    ("Brücke:", "Brücke"),
    ("Pré-refrain:", "Pré-refrain"),
    # lyrics
    ("(oh oh oh)", None),
    ("(yeah)", None),
    ("(Break free)", None),
    ("(solo tú)", None),
    ("Listen:", None),
    ("The chorus goes like this:", None),
    ("Chorus", None),  # unmarked
    ("x2", None),
    ("(x2)", None),
    ("[Chorus] la la la", None),
    ("[unclosed", None),
    ("#blessed", None),
    ("", None),
]


@pytest.mark.parametrize(("line", "header"), HEADER_LINES)
def test_read_header_tells_header_lines_from_lyrics(line, header):
    assert default_section_map().read_header(line) == header


def test_header_classes_of_other_languages():
    smap = default_section_map()
    expected = {
        "Estribillo": "chorus", "Coro": "chorus", "Refrão": "chorus", "Refrain": "chorus",
        "Ritornello": "chorus", "Refrein": "chorus", "Couplet 1": "verse", "Strophe": "verse",
        "Estrofa 2": "verse", "Strofa": "verse", "Vers 1": "verse", "Pont": "bridge",
        "Puente": "bridge", "Ponte": "bridge", "Brücke": "bridge", "Pré-refrain": "pre-chorus",
        "Pre-coro": "pre-chorus", "Post-estribillo": "post-chorus",
    }  # fmt: skip
    assert {h: smap.classify(h) for h in expected} == expected


def test_long_lines_are_never_headers_and_cost_little():
    import time

    smap = default_section_map()
    started = time.perf_counter()
    for text in ("1" * 20_000, "(" * 10_000 + ")" * 10_000, "Chorus " + "x1" * 10_000):
        assert smap.read_header(f"[{text}]") is None
        assert smap.read_header(f"({text}):") is None
        assert smap.classify(text) is None
    assert time.perf_counter() - started < 1.0


def test_user_map_qualifiers(tmp_path):
    rules = "rules:\n  - {class: chorus, patterns: ['\\bchorus\\b']}\n"
    assert SectionMap.load(write_map(tmp_path, rules)).read_header("(Final Chorus)") == (
        "Final Chorus"
    )  # the packaged qualifiers by default
    smap = SectionMap.load(write_map(tmp_path, "qualifiers: [big]\n" + rules))
    assert smap.read_header("(Big Chorus)") == "Big Chorus"
    assert smap.read_header("(Final Chorus)") is None
    with pytest.raises(LyricsegError, match="'qualifiers' must be a list of single lower-case"):
        SectionMap.load(write_map(tmp_path, "qualifiers: [Two Words]\n" + rules))


def test_unknown_bracketed_lines_are_headers_only_for_the_converter():
    smap = default_section_map()
    for line in ("[I want you]", "[...]", "[Produced by Somebody]"):
        assert smap.read_header(line) == line[1:-1]  # Genius: every bracketed line
        assert smap.read_header(line, any_bracketed=False) is None  # backing vocals
    assert smap.read_header("[Verse 1: Singer] x2", any_bracketed=False) == "Verse 1 x2"
