"""safe_instantiate: stored configs build allow-listed classes only, and nothing else runs."""

from __future__ import annotations

import functools
import os

import pytest
from omegaconf import OmegaConf

from lyricseg import calibration, features, losses
from lyricseg.utils.instantiate import (
    UnsafeConfigError,
    check_instantiable,
    class_path,
    exported_classes,
    resolve_references,
    safe_instantiate,
)


class Leaf:
    def __init__(self, value=0, **extra):
        self.value, self.extra = value, extra


class Pair:
    def __init__(self, left, right=None):
        self.left, self.right = left, right


ALLOWED = {Leaf, Pair}


def test_builds_nested_configs_from_a_set_of_classes():
    built = safe_instantiate(
        {
            "_target_": class_path(Pair),
            "left": {"_target_": class_path(Leaf), "value": 3},
            "right": [{"_target_": class_path(Leaf)}, {"plain": {"x": 1}}, 2.5],
        },
        ALLOWED,
    )
    assert isinstance(built, Pair) and built.left.value == 3
    assert isinstance(built.right[0], Leaf) and built.right[1:] == [{"plain": {"x": 1}}, 2.5]


def test_partial_and_a_mapping_of_names():
    factory = safe_instantiate({"_target_": "leaf", "_partial_": True, "value": 1}, {"leaf": Leaf})
    assert isinstance(factory, functools.partial) and factory(value=2).value == 2
    assert safe_instantiate({"_target_": "leaf", "_partial_": False}, {"leaf": Leaf}).value == 0


@pytest.mark.parametrize(
    ("node", "where", "what"),
    [
        ({"_target_": "os.mkdir", "path": "x"}, "config", "refusing to build 'os.mkdir'"),
        ({"_target_": "builtins.eval"}, "config", "refusing to build 'builtins.eval'"),
        ({"_target_": class_path(Leaf), "value": {"_target_": "os.system"}}, "config.value", ""),
        ({"_target_": class_path(Pair), "left": [1, {"_target_": 7}]}, "config.left[1]", "7"),
        ({"_target_": class_path(Leaf), "_args_": [1]}, "config", "_args_ is not allowed"),
        ({"_target_": class_path(Leaf), "_recursive_": False}, "config", "_recursive_ is not"),
        ({"_target_": class_path(Leaf), "_convert_": "all"}, "config", "_convert_ is not"),
        ({"_target_": class_path(Leaf), "_partial_": "yes"}, "config", "_partial_ is 'yes'"),
        ({"_target_": class_path(Leaf), "value": "${oc.env:HOME}"}, "config.value", "interp"),
        ({"_target_": "${oc.create:{}}"}, "config._target_", "is an interpolation"),
        ({"_target_": class_path(Leaf), "${x}": 1}, "config key", "is an interpolation"),
        ({"_target_": class_path(Leaf), 3: 1}, "config", "key 3 is not a string"),
    ],
)
def test_refusals_name_the_place_and_build_nothing(tmp_path, node, where, what):
    marker = tmp_path / "made"
    if node.get("path") == "x":
        node["path"] = str(marker)
    with pytest.raises(UnsafeConfigError) as caught:
        safe_instantiate(node, ALLOWED)
    assert caught.value.where == where and what in caught.value.what
    assert "\n" not in str(caught.value)
    assert not marker.exists()


def test_a_dictconfig_is_refused_not_resolved(monkeypatch):
    monkeypatch.setenv("LYRICSEG_TEST_VALUE", "7")
    value = "${oc.env:LYRICSEG_TEST_VALUE}"
    node = OmegaConf.create({"_target_": class_path(Leaf), "value": value})
    with pytest.raises(UnsafeConfigError, match="not a plain dict"):
        safe_instantiate(node, {Leaf})


def test_form_only_check_ignores_targets():
    check_instantiable({"_target_": "os.system", "x": [1, "a"]}, None)
    with pytest.raises(UnsafeConfigError, match="_args_"):
        check_instantiable({"_target_": "os.system", "_args_": []}, None)
    assert os.path.isdir(os.curdir)  # nothing was called


def test_exported_classes_by_both_paths():
    found = exported_classes([losses], losses.SegmentationLoss)
    assert found["lyricseg.losses.FocalLoss"] is found["lyricseg.losses.focal.FocalLoss"]
    assert found["lyricseg.losses.CrossEntropyLoss"] is losses.CrossEntropyLoss
    concrete = exported_classes([features, calibration], without_bases=True)
    assert "lyricseg.features.StringView" in concrete
    assert "lyricseg.features.View" not in concrete
    assert "lyricseg.calibration.Calibrator" not in concrete


# -- resolve_references: a saved run config's references, and nothing else ---------------
def test_references_to_other_keys_are_followed_through_several_hops():
    root = {
        "trainer": {"max_epochs": 7},
        "epochs": "${trainer.max_epochs}",
        "loss": {"_target_": "x.Loss", "n": "${epochs}", "w": [1, " ${trainer.max_epochs} "]},
    }
    assert resolve_references(root, root["loss"]) == {"_target_": "x.Loss", "n": 7, "w": [1, 7]}


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("${oc.env:HOME}", "not a reference"),
        ("${lyricseg_test_probe:1}", "not a reference"),
        ("epochs: ${trainer.max_epochs}", "not a reference"),
        ("${.sibling}", "not a reference"),
        ("${nowhere.to.be.found}", "names no key"),
        ("${loop}", "in a circle"),
    ],
)
def test_anything_but_a_plain_reference_is_refused(value, what):
    root = {"loop": "${loop}", "trainer": {"max_epochs": 3}, "loss": {"w": value}}
    with pytest.raises(UnsafeConfigError, match=what) as err:
        resolve_references(root, root["loss"], "loss")
    assert err.value.where.startswith(("loss.w", "loop"))
