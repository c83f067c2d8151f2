"""Sounds beyond English: spelled rhyme/phone keys, the ``oov_sounds`` option, language guess."""

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from support import REPO

from lyricseg import checkpoint
from lyricseg.features import FeatureExtractor, PhoneticView, RhymeView, SongText, StringView
from lyricseg.features.language import guess_language
from lyricseg.features.spelling import spelled_sound
from lyricseg.features.text import word_phonetics

# Invented lines: each stanza's first two lines end in a rhyme, the third and fourth in
# another one, and no last word is repeated.
GERMAN = [
    "ich trage dich in meinem herz",
    "und nicht mehr den schmerz",
    "wir sind noch wach in der nacht",
    "du hast auf mich die macht",
]
SPANISH = [
    "yo quiero todo tu amor",
    "porque sin ti es un dolor",
    "cuando me das el corazón",
    "yo no quiero otra razón",
]
FRENCH = [
    "je suis avec toi mon amour",
    "et tu es dans mon coeur toujours",
    "nous allons dans le monde",
    "avec les filles de la ronde",
]


def rhyme_matrix(lines, oov_sounds):
    return RhymeView().ssm(SongText.from_lines(lines, oov_sounds=oov_sounds)).dense()


@pytest.mark.parametrize(("lines", "language"), [(GERMAN, "de"), (SPANISH, "es"), (FRENCH, "fr")])
def test_spelled_rhymes_rhyme_and_others_do_not(lines, language):
    assert guess_language(lines) == language
    sim = rhyme_matrix(lines, "spelling")
    assert sim[0, 1] == 1 and sim[2, 3] == 1
    assert sim[0, 2] == sim[0, 3] == sim[1, 2] == sim[1, 3] == 0


def test_without_spelled_sounds_these_rhymes_are_missed():
    """``none`` (today's models): CMU reads ``herz``, ``amor``, ``amour`` as English words."""
    for lines in (GERMAN, SPANISH, FRENCH):
        assert rhyme_matrix(lines, "none")[0, 1] == 0


@pytest.mark.parametrize(
    ("language", "rhymes", "not_rhymes"),
    [
        (
            "de",
            [
                ("Herz", "Schmerz"),
                ("Jahr", "Haar"),
                ("Zeit", "weit"),
                ("Glück", "zurück"),
                ("Welt", "Geld"),
            ],
            [("Herz", "Nacht"), ("Tür", "Tour"), ("schön", "Sohn")],
        ),
        ("es", [("corazón", "razón"), ("amor", "dolor"), ("mar", "dar")], [("amor", "mar")]),
        (
            "fr",
            [("amour", "toujours"), ("aimer", "été"), ("cœur", "leur"), ("moi", "toi")],
            [("amour", "monde"), ("nuit", "pas")],
        ),
    ],
)
def test_spelled_rhyme_keys(language, rhymes, not_rhymes):
    def key(word):
        return spelled_sound(word, language)[2]

    for a, b in rhymes:
        assert key(a) == key(b), (a, b)
    for a, b in not_rhymes:
        assert key(a) != key(b), (a, b)


def test_spelled_sounds_rewrite_digraphs_and_count_syllables():
    assert spelled_sound("Schmerz", "de") == ("Smerz", 1, "erz")
    assert spelled_sound("Philosophie", "de")[0] == "filosofi"
    assert spelled_sound("quick", "en")[0] == "kwik"
    assert spelled_sound("vibe", "en") == ("vib", 1, "ib")  # silent final e in English only
    assert spelled_sound("vibe", "de") == ("vibe", 2, "e")
    assert spelled_sound("chantent", "fr")[0] == "Xan"
    assert spelled_sound("24", "de") == ("24", 1, "24")


def test_english_words_in_the_dictionary_keep_their_cmu_sounds():
    lines = ["I know that you are the one", "and it's all for you tonight", "lovin' the light"]
    none = SongText.from_lines(lines, oov_sounds="none").phonetic
    spelled = SongText.from_lines(lines, oov_sounds="spelling").phonetic
    words = SongText.from_lines(lines).words
    for line, a, b in zip(words, none, spelled, strict=True):
        for word, x, y in zip(line, a, b, strict=True):
            assert x == word_phonetics(word)
            assert y == (x if word != "lovin'" else spelled_sound(word, "en"))


def test_none_is_todays_extractor_and_spelling_another_signature():
    views = {"string": StringView(), "rhyme": RhymeView(), "phonetic": PhoneticView()}
    today = FeatureExtractor(views)
    assert today.oov_sounds == "none"
    none = FeatureExtractor(views, oov_sounds="none")
    spelling = FeatureExtractor(views, oov_sounds="spelling")
    assert today.signature() == none.signature() != spelling.signature()
    np.testing.assert_array_equal(today(GERMAN), none(GERMAN))
    assert not np.array_equal(today(GERMAN), spelling(GERMAN))
    with pytest.raises(ValueError, match="oov_sounds"):
        FeatureExtractor(views, oov_sounds="phonemes")


def test_packaged_feature_configs_spell():
    for name in ("default", "fast"):  # semantic.yaml extends default.yaml
        assert OmegaConf.load(REPO / f"conf/features/{name}.yaml").oov_sounds == "spelling"


def _model_file(tmp_path, features):
    from lyricseg.models.components import TaggerNet

    extractor = instantiate(OmegaConf.create(features))
    net = {
        "_target_": "lyricseg.models.components.TaggerNet",
        "input_dim": extractor.dim,
        "hidden_size": 4,
        "num_layers": 1,
        "projection_size": 4,
        "conventions": ["lyrics"],
    }
    record = checkpoint.make_record(net, features, None)
    built = TaggerNet(**{k: v for k, v in net.items() if k != "_target_"})
    return checkpoint.save_model(tmp_path / "model.ckpt", built, record)


def test_option_is_recorded_and_old_configs_load_as_none(tmp_path):
    features = OmegaConf.to_container(OmegaConf.load(REPO / "conf/features/default.yaml"))
    path = _model_file(tmp_path, features)
    assert torch.load(path, weights_only=True)["lyricseg"]["features"]["oov_sounds"] == "spelling"
    assert checkpoint.load_model(path).features.oov_sounds == "spelling"

    data = torch.load(path, weights_only=True)
    del data["lyricseg"]["features"]["oov_sounds"]  # as every model written before the option
    torch.save(data, tmp_path / "old.ckpt")
    assert checkpoint.load_model(tmp_path / "old.ckpt").features.oov_sounds == "none"

    data["lyricseg"]["features"]["oov_sounds"] = "phonemes"
    torch.save(data, tmp_path / "bad.ckpt")
    with pytest.raises(checkpoint.CheckpointError, match="oov_sounds"):
        checkpoint.load_model(tmp_path / "bad.ckpt")


def test_a_model_from_before_the_option_reads_raw_letters():
    from support import FORMAT2_MODEL

    record, _ = checkpoint.read_record(FORMAT2_MODEL)
    assert "oov_sounds" not in record.features
    assert record.build_features().oov_sounds == "none"


@pytest.mark.parametrize(
    ("lines", "language"),
    [
        (["I know that you are the one", "and it's all for you"], "en"),
        (["Ich weiß nicht, wer du bist", "und wir sind noch hier"], "de"),
        (["Yo quiero todo el amor", "porque sin ti no soy nada"], "es"),
        (["Je suis avec toi dans la nuit", "et tout est pour moi"], "fr"),
        (["Eu não sei o que você quer", "meu coração é tudo agora"], "pt"),
        (["Io sono qui per te", "e voglio ancora il tuo cuore"], "it"),
        (["Ooh", "Na na na"], "other"),
        (["Minä rakastan sinua", "sinä olet kaunis"], "other"),
    ],
)
def test_language_guess(lines, language):
    assert guess_language(lines) == language
