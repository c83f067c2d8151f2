"""Checkpoints written before a module moved still load: what they name by path.

A lyricseg record names classes by dotted path (``net``, ``features``, ``decoder`` and the
calibrator's ``target``); Lightning's training checkpoints pickle no lyricseg object at all
(the LightningModule saves no hyper-parameters). So moving training code (the
LightningModule, DataModule, callbacks, schedulers) cannot break them, and moving a class a
record names needs an explicit upgrade in :mod:`lyricseg.checkpoint`.
"""

from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path

import torch

from lyricseg.checkpoint import PRETRAINED, allowed_targets, load_model


def _targets(node) -> list[str]:
    if isinstance(node, dict):
        found = [node[k] for k in ("_target_", "target") if isinstance(node.get(k), str)]
        return found + [t for value in node.values() for t in _targets(value)]
    if isinstance(node, list | tuple):
        return [t for value in node for t in _targets(value)]
    return []


def _pickled_globals(path: Path) -> set[str]:
    """Every ``module name`` the checkpoint's pickle stream would import to load."""
    names: set[str] = set()
    with zipfile.ZipFile(path) as archive:
        (pkl,) = [n for n in archive.namelist() if n.endswith("data.pkl")]
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(archive.read(pkl)):
            if op.name == "GLOBAL":
                names.add(arg.replace(" ", ":"))
            elif op.name == "STACK_GLOBAL":
                names.add(":".join(strings[-2:]))
            if isinstance(arg, str):
                strings.append(arg)
    return names


def test_every_class_the_shipped_model_names_still_exists():
    stored = _targets(torch.load(PRETRAINED, weights_only=True)["lyricseg"])
    assert stored  # the network, the views, the decoder, the calibrator
    assert set(stored) <= allowed_targets(), set(stored) - allowed_targets()
    assert load_model(PRETRAINED).net is not None


def test_training_checkpoints_pickle_no_lyricseg_class(tiny_checkpoint):
    """``last.ckpt`` (resume) and ``best.ckpt`` name lyricseg code only as record strings."""
    for path in (tiny_checkpoint.parent / "last.ckpt", tiny_checkpoint):
        names = _pickled_globals(path)
        assert names, "the pickle stream was not read"
        assert not {n for n in names if n.startswith("lyricseg")}, names
        assert set(_targets(torch.load(path, weights_only=True)["lyricseg"])) <= allowed_targets()
