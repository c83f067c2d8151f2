"""Crafted checkpoints: every way a stored record could run code or mislead is refused.

Each case rewrites the tiny model file (weights or record) and must be refused, with one
line naming the problem, by ``Segmenter.load()``, ``predict.py ckpt=`` and
``lyricseg-serve ckpt=`` (at start-up); payloads that would create a marker folder never do.
The payloads are live: :func:`test_payloads_run_when_resolved_and_instantiated` shows each
one creating its marker when the record is handed to Hydra as lyricseg once did.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from support import REPO, TINY, run_script

from lyricseg.api import Segmenter
from lyricseg.utils.errors import LyricsegError

#: Resolver a hostile process could have registered (lyricseg's own are as reachable).
RESOLVER = "crafted.mkdir"
VITERBI = "lyricseg.models.components.ViterbiDecoder"
#: Environment variable holding a payload, read by ``oc.env``.
ENV = "LYRICSEG_CRAFTED_PAYLOAD"


def _spec(marker: Path) -> str:
    return f"{{_target_: os.mkdir, _args_: ['{marker}']}}"


#: Interpolations, each a function of the marker folder the payload would create.
LIVE = {
    "oc.create": lambda m: f'${{oc.create:"{_spec(m)}"}}',
    "oc.create of oc.env": lambda m: f"${{oc.create:${{oc.env:{ENV}}}}}",
    "oc.create of oc.decode": lambda m: f'${{oc.create:${{oc.decode:"{_spec(m)}"}}}}',
    "oc.create of a nested config": lambda m: f'${{oc.create:"{{outer: {{inner: {_spec(m)}}}}}"}}',
    "custom resolver": lambda m: f"${{{RESOLVER}:{m}}}",
}
#: Interpolations that do not build anything by themselves, refused all the same.
INERT = {
    "oc.env": lambda m: f"${{oc.env:{ENV}}}",
    "oc.decode": lambda m: f'${{oc.decode:"{_spec(m)}"}}',
    "absolute": lambda m: "${net.hidden_size}",
    "relative": lambda m: "${..threshold}",
    "escaped": lambda m: r"\${oc.env:HOME}",
    "inside text": lambda m: "a ${oc.env:HOME} b",
    "lyricseg resolver": lambda m: "${lyricseg.resume_dir:x,y}",
}


def _set(path: str, value) -> Callable[[dict], None]:
    """A change setting ``value`` at a dotted path of the checkpoint (``[i]`` for list items)."""

    def change(data: dict) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        if last.endswith("]"):
            name, index = last[:-1].split("[")
            node[name][int(index)] = value
        else:
            node[last] = value

    return change


def _key(path: str, key) -> Callable[[dict], None]:
    """A change adding ``key`` (with a harmless value) to the mapping at ``path``."""

    def change(data: dict) -> None:
        node = data
        for part in path.split("."):
            node = node[part]
        node[key] = 1

    return change


#: Where interpolations are put: numbers, a flag, a list item, a name, a calibrator, a key.
FIELDS = {
    "decoder.switch_penalty": "record.decoder.switch_penalty",
    "net.sections": "record.net.sections",
    "features.views.string.threshold": "record.features.views.string.threshold",
    "features.block_views[1]": "record.features.block_views[1]",
    "features.context_view": "record.features.context_view",
    "calibrator.state.a": "record.calibrator.state.a",
    "lyricseg_version": "record.lyricseg_version",
}


def _interpolation_cases():
    cases = []
    for form, payload in {**LIVE, **INERT}.items():
        for field, where in FIELDS.items():
            if form not in LIVE and field != "decoder.switch_penalty":
                continue  # inert forms: one field is enough
            cases.append(
                pytest.param(
                    f"lyricseg.{field}",
                    payload,
                    f"refusing the stored {where}: ",
                    id=f"{form}-{field}",
                )
            )
    return cases


def _payload_change(field: str, payload: Callable[[Path], str], marker: Path):
    return _set(field, payload(marker))


def _format_3(calibrator: dict) -> Callable[[dict], None]:
    """A change making the file format 3, whose calibrator named its class under ``target``."""

    def change(data: dict) -> None:
        data["lyricseg"]["format_version"] = 3
        data["lyricseg"]["calibrator"] = calibrator

    return change


def _corrupt_tensor(src: Path, dst: Path) -> None:
    """Overwrite 64 bytes inside the largest tensor, leaving the archive's structure intact."""
    raw = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
    raw[start : start + 64] = bytes(64) if any(raw[start : start + 64]) else b"\xff" * 64
    dst.write_bytes(raw)


def _truncate(src: Path, dst: Path) -> None:
    dst.write_bytes(src.read_bytes()[:-200])


#: (id, change of the loaded checkpoint dict or of its bytes, words of the one-line error).
OTHER_CASES = [
    # foreign, abstract and wrongly placed classes, Hydra keys a record may not use
    ("abstract decoder", _set("lyricseg.decoder._target_", "lyricseg.models.components.Decoder"),
     "refusing to build 'lyricseg.models.components.Decoder' (decoder)"),
    ("abstract view", _set("lyricseg.features.views.string._target_", "lyricseg.features.View"),
     "refusing to build 'lyricseg.features.View' (features.views.string)"),
    ("abstract calibrator",
     _set("lyricseg.calibrator._target_", "lyricseg.calibration.base.Calibrator"),
     "refusing calibrator 'lyricseg.calibration.base.Calibrator'"),
    ("auto calibrator", _set("lyricseg.calibrator._target_", "lyricseg.calibration.AutoCalibrator"),
     "refusing calibrator 'lyricseg.calibration.AutoCalibrator'"),
    ("calibrator outside lyricseg", _set("lyricseg.calibrator._target_", "os.system"),
     "refusing calibrator 'os.system'"),
    ("calibrator outside lyricseg, format 3", _format_3(
        {"target": "os.system", "state": {"a": 1.0, "b": 0.0}}),
     "refusing calibrator 'os.system'"),
    ("auto calibrator, format 3", _format_3(
        {"target": "lyricseg.calibration.AutoCalibrator", "state": {}}),
     "refusing calibrator 'lyricseg.calibration.AutoCalibrator'"),
    ("calibrator with Hydra keys", _set("lyricseg.calibrator._args_", ["x"]),
     "refusing the stored record.calibrator: _args_ is not allowed"),
    ("calibrator with a nested target", _set("lyricseg.calibrator.state", {
        "_target_": "os.mkdir", "path": "x"}),
     "refusing the stored calibrator.state: refusing to build 'os.mkdir'"),
    ("foreign target in a list",
     _set("lyricseg.features.block_views[0]", {"_target_": "os.mkdir", "path": "x"}),
     "refusing to build 'os.mkdir' (features.block_views[0])"),
    ("net is a view", _set("lyricseg.net._target_", "lyricseg.features.StringView"),
     "refusing the stored net: it must build a Module"),
    ("net is a partial", _set("lyricseg.net._partial_", True),
     "refusing the stored net: it must build a Module"),
    ("_args_", _set("lyricseg.decoder._args_", [1.0]), "_args_ is not allowed"),
    ("_recursive_", _set("lyricseg.features._recursive_", False), "_recursive_ is not allowed"),
    ("_partial_ not a bool", _set("lyricseg.net.attention", {
        "_target_": "lyricseg.models.components.LineSelfAttention", "_partial_": "yes"}),
     "_partial_ is 'yes'"),
    ("integer key", _key("lyricseg.features.views", 3), "key 3 is not a string"),
    ("interpolation as a key", _key("lyricseg.features.views", "${oc.env:HOME}"),
     "refusing the stored record.features.views key: '${oc.env:HOME}' is an interpolation"),
    ("interpolation as a target", _set("lyricseg.decoder._target_", "${oc.env:HOME}"),
     "refusing the stored record.decoder._target_: '${oc.env:HOME}' is an interpolation"),
    ("foreign target nested in an allowed one", _set("lyricseg.features.views.string.threshold",
        {"outer": {"_target_": "os.mkdir", "path": "x"}}),
     "refusing to build 'os.mkdir' (features.views.string.threshold.outer)"),
    ("tensor in the record", _set("lyricseg.decoder.switch_penalty", torch.tensor(1.0)),
     "a Tensor is not plain data"),
    # architecture against weights, checked before anything is allocated
    ("hidden_size 4000", _set("lyricseg.net.hidden_size", 4000),
     "the stored architecture has far more parameters than the file holds"),
    ("num_layers a million", _set("lyricseg.net.num_layers", 10**6),
     "the stored architecture has far more parameters than the file holds"),
    ("hidden_size 2**40", _set("lyricseg.net.hidden_size", 2**40), "is out of range"),
    ("input_dim off by one", lambda d: d["lyricseg"]["net"].update(
        input_dim=d["lyricseg"]["net"]["input_dim"] + 1), "projection.0.weight is ["),
    ("section heads claimed", lambda d: d["lyricseg"]["net"].update(
        sections=True, section_classes=["verse", "chorus"]), "missing ['section_head"),
    ("section heads claimed without classes", _set("lyricseg.net.sections", True),
     "refusing the stored net.section_classes: None is not a non-empty list"),
    ("a weight dropped", lambda d: d["state_dict"].pop("net.lstm.bias_hh_l0"),
     "missing ['lstm.bias_hh_l0']"),
    ("NaN in the weights", lambda d: d["state_dict"]["net.lstm.bias_ih_l0"].fill_(math.nan),
     "lstm.bias_ih_l0 holds NaN or infinite values"),
    # numbers in the record
    ("NaN switch penalty", _set("lyricseg.decoder.switch_penalty", math.nan),
     "record.decoder.switch_penalty: nan is not a finite number"),
    ("negative switch penalty", _set("lyricseg.decoder.switch_penalty", -3.0),
     "record.decoder.switch_penalty: -3.0 is outside [0.0, inf]"),
    ("infinite threshold", _set("lyricseg.features.views.string.threshold", math.inf),
     "record.features.views.string.threshold: inf is not a finite number"),
    ("threshold 2", _set("lyricseg.features.views.head.threshold", 2.0),
     "record.features.views.head.threshold: 2.0 is outside [0.0, 1.0]"),
    ("dropout 1.5", _set("lyricseg.net.dropout", 1.5), "record.net.dropout: 1.5 is outside"),
    ("NaN calibrator state", _set("lyricseg.calibrator.state.a", math.nan),
     "record.calibrator.state.a: nan is not a finite number"),
    ("calibrator state a string", _set("lyricseg.calibrator.state.b", "0.5"),
     "PlattScaler state 'b' must be a finite number"),
    ("calibrator state a list", _set("lyricseg.calibrator.state.b", [0.5, 1.0]),
     "PlattScaler state 'b' must be a finite number"),
    ("zero temperature", _set("lyricseg.calibrator", {
        "_target_": "lyricseg.calibration.scalers.TemperatureScaler",
        "state": {"temperature": 0.0}}),
     "temperature must be > 0"),
    ("isotonic knots out of order", _set("lyricseg.calibrator", {
        "_target_": "lyricseg.calibration.isotonic.IsotonicCalibrator",
        "state": {"x_thresholds": [0.0, 0.8, 0.4], "y_thresholds": [0.0, 0.5, 1.0]}}),
     "isotonic map knots must be non-decreasing"),
    # the file itself
    ("corrupted tensor bytes", _corrupt_tensor, "fails its CRC check: the file is damaged"),
    ("truncated file", _truncate, "is not an intact torch zip archive"),
]  # fmt: skip
#: Cases that also go through the two commands in the default suite (the rest: -m slow).
COMMAND_CASES = {
    "oc.create-decoder.switch_penalty",
    "NaN switch penalty",
    "corrupted tensor bytes",
}


def _cases():
    cases = list(_interpolation_cases())
    cases += [pytest.param(change, None, message, id=name) for name, change, message in OTHER_CASES]
    return cases


@pytest.fixture
def payload_env(tmp_path, monkeypatch):
    """The marker folder a payload would create, the payload in the environment, the resolver."""
    marker = tmp_path / "created-by-checkpoint"
    monkeypatch.setenv(ENV, _spec(marker))
    OmegaConf.register_new_resolver(RESOLVER, lambda path: os.mkdir(path), replace=True)
    yield marker
    OmegaConf.clear_resolver(RESOLVER)


def _craft(tiny_checkpoint: Path, dst: Path, change, payload, marker: Path) -> Path:
    if payload is not None:
        change = _payload_change(change, payload, marker)
    if change in (_corrupt_tensor, _truncate):
        change(tiny_checkpoint, dst)
        return dst
    data = _viterbi(torch.load(tiny_checkpoint, weights_only=True))
    change(data)
    torch.save(data, dst)
    return dst


def _viterbi(data: dict) -> dict:
    """The tiny model with a Viterbi decoder, so that ``switch_penalty`` is a real field."""
    data["lyricseg"]["decoder"] = {"_target_": VITERBI, "switch_penalty": 1.0}
    return data


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(("change", "payload", "message"), _cases())
def test_segmenter_load_refuses(tiny_checkpoint, tmp_path, payload_env, change, payload, message):
    bad = _craft(tiny_checkpoint, tmp_path / "crafted.ckpt", change, payload, payload_env)
    with pytest.raises(LyricsegError) as caught:
        Segmenter.load(bad)
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert not payload_env.exists()


def _command_cases():
    return [
        pytest.param(*p.values, id=p.id, marks=() if p.id in COMMAND_CASES else pytest.mark.slow)
        for p in _cases()
    ]


@pytest.mark.parametrize(("change", "payload", "message"), _command_cases())
def test_predict_command_refuses(tiny_checkpoint, tmp_path, payload_env, change, payload, message):
    bad = _craft(tiny_checkpoint, tmp_path / "crafted.ckpt", change, payload, payload_env)
    out = tmp_path / "out.jsonl"
    result = run_script(
        "predict.py",
        f"ckpt={bad}",
        f"input={TINY}/val.jsonl",
        f"output={out}",
        f"hydra.run.dir={tmp_path}/run",
        # the resolver exists in this process only: the command must refuse the text anyway
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in _one_line_error(result.stderr)
    assert not payload_env.exists() and not out.exists()


@pytest.mark.parametrize(("change", "payload", "message"), _command_cases())
def test_serve_command_refuses_at_start(
    tiny_checkpoint, tmp_path, payload_env, change, payload, message
):
    bad = _craft(tiny_checkpoint, tmp_path / "crafted.ckpt", change, payload, payload_env)
    result = subprocess.run(
        [sys.executable, "-m", "lyricseg.serve", f"ckpt={bad}", "port=0",
         f"hydra.run.dir={tmp_path}/run"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in _one_line_error(result.stderr)
    assert not payload_env.exists()


@pytest.mark.parametrize("form", sorted(LIVE))
def test_payloads_run_when_resolved_and_instantiated(payload_env, form):
    """What the refused records would do: Hydra resolves the interpolation and builds it."""
    from hydra.utils import instantiate

    with contextlib.suppress(Exception):  # the decoder may refuse what the payload returned
        instantiate({"_target_": VITERBI, "switch_penalty": LIVE[form](payload_env)})
    assert payload_env.is_dir()


def test_remote_checkpoints_are_refused(tmp_path):
    with pytest.raises(LyricsegError, match="checkpoints are read from local files only"):
        Segmenter.load("https://127.0.0.1:9/model.ckpt")
    result = run_script(
        "predict.py",
        "ckpt=http://127.0.0.1:9/model.ckpt",
        f"input={TINY}/val.jsonl",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert result.returncode == 2
    assert "checkpoints are read from local files only" in _one_line_error(result.stderr)


def test_the_crafting_itself_leaves_a_loadable_model(tiny_checkpoint, tmp_path):
    good = _craft(tiny_checkpoint, tmp_path / "good.ckpt", lambda data: None, None, tmp_path)
    assert len(Segmenter.load(good)(["a", "b", "a"]).labels) == 3


def test_the_shipped_model_passes_every_check():
    seg = Segmenter.load()
    assert len(seg(["hold me close", "never let me go", "hold me close"]).labels) == 3
