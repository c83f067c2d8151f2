"""The checkpoint format: the one seam between training and prediction.

A lyricseg checkpoint is a ``torch.save`` file holding plain containers and tensors only, so
it loads with ``weights_only=True``::

    {
      "state_dict": {"net.<param>": Tensor, ...},      # the tagger network's weights
      "lyricseg": {                                     # this module's section
        "format_version": 4,
        "lyricseg_version": "0.2.0",
        "feature_version": 2,
        "net": {"_target_": "lyricseg.models.components.TaggerNet", "input_dim": ...,
                "sections": true, "section_classes": ["intro", "verse", ...],
                "conventions": ["lyrics", "extra"], ...},
        "features": {"_target_": "lyricseg.features.FeatureExtractor", ...},
        "decoder": {"_target_": "lyricseg.models.components.ViterbiDecoder", ...},
        "calibrator": {"_target_": ..., "name": ..., "state": {...}} | None,
      },
    }

Two kinds of files carry it. Lightning's training checkpoints (``last.ckpt``,
``best-state.ckpt``) add optimizer, loop and callback state for resuming; the model file that
training writes once, after calibration (``best.ckpt``), holds only the above. Both predict.

This module is the only code that writes or reads the ``"lyricseg"`` section. A stored record
is data, never code, and reading it is safe:

1. only local files are read, and only after every member of the zip archive passed its CRC;
2. ``torch.load(weights_only=True)`` never unpickles objects;
3. the record holds plain values only: no ``${`` anywhere (an OmegaConf interpolation could
   build objects of its own), finite numbers within their ranges, and a ``_target_`` naming a
   concrete class on :func:`allowed_targets` wherever one appears; a network's
   ``section_classes`` and ``conventions`` are short lists of short, distinct names, and a
   joint decoder's table fits them (:func:`check_vocabulary`);
4. the network is first built on the ``meta`` device (no memory) and its parameter shapes are
   compared with the stored weights;
5. objects are then built by :func:`lyricseg.utils.instantiate.safe_instantiate`, which
   looks classes up in the allow-list and never resolves, imports or calls anything else
   (Hydra's ``instantiate`` is not used).
"""

from __future__ import annotations

import functools
import importlib.metadata
import math
import re
import threading
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import lyricseg.calibration
import lyricseg.features
import lyricseg.models.components
from lyricseg._version import __version__
from lyricseg.calibration import calibrator_from_dict
from lyricseg.calibration.base import calibrator_classes
from lyricseg.data.conventions import DEFAULT_CONVENTION
from lyricseg.features import FeatureExtractor
from lyricseg.features.extractor import FEATURE_VERSION
from lyricseg.models.components import ArgmaxDecoder, Decoder, JointDecoder
from lyricseg.sections import default_section_map
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.instantiate import (
    UnsafeConfigError,
    check_instantiable,
    exported_classes,
    safe_instantiate,
)
from lyricseg.utils.io import atomic_write

#: Version of the layout above. Older layouts load through :data:`UPGRADES`.
#: 3: the network stores its section classes, the joint decoder its chorus class ids.
#: 4: the calibrator names its class under ``_target_`` (was ``target``), like every config.
#: 5: the network stores its verse/chorus conventions (one label head each); the joint decoder
#: a label-given-class table per convention instead of chorus class ids.
FORMAT_VERSION = 5
#: Key of lyricseg's section inside a checkpoint.
SECTION = "lyricseg"
#: Prefix of the network's weights in ``state_dict`` (the LightningModule's ``net`` attribute).
NET_PREFIX = "net."
#: Where the model shipped with the package lives.
PRETRAINED = Path(__file__).parent / "pretrained" / "lyricseg-base.ckpt"
#: Allowed ranges of numbers stored under these keys, wherever they appear in a record.
RANGES: dict[str, tuple[float, float]] = {
    "threshold": (0.0, 1.0),
    "dropout": (0.0, 1.0),
    "switch_penalty": (0.0, math.inf),
    "label_weight": (0.0, math.inf),
    "short_section_penalty": (0.0, math.inf),
    # The decoders keep one state per class and section length up to this.
    "min_section_lines": (1, 64),
}
#: Largest integer a record may hold (sizes beyond it cannot match real weights anyway).
MAX_INT = 2**31 - 1
#: Most section classes a network may name, and the longest name.
MAX_SECTION_CLASSES = 256
MAX_CLASS_CHARS = 64
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class CheckpointError(LyricsegError):
    """A checkpoint that cannot be used: missing, unreadable, foreign, unsafe or too new."""


def lyricseg_version() -> str:
    """The installed lyricseg version (the package's, else the source tree's)."""
    try:
        return importlib.metadata.version("lyricseg")
    except importlib.metadata.PackageNotFoundError:
        return __version__


def _feature_version() -> int:
    return FEATURE_VERSION


@functools.cache
def buildable_classes() -> Mapping[str, type]:
    """Classes a checkpoint may name, by dotted path: features, net parts, decoders, calibrators.

    The public exports of :mod:`lyricseg.features`, :mod:`lyricseg.models.components` and
    :mod:`lyricseg.calibration` (see :func:`~lyricseg.utils.instantiate.exported_classes`), so
    a new component is allowed by exporting it there and nothing outside lyricseg ever is.
    Base classes of other exported classes (``View``, ``Decoder``, ``Calibrator``) are
    abstract and left out.
    """
    return exported_classes(
        (lyricseg.features, lyricseg.models.components, lyricseg.calibration), without_bases=True
    )


def allowed_targets() -> frozenset[str]:
    """Dotted class paths a checkpoint may name (see :func:`buildable_classes`)."""
    return frozenset(buildable_classes())


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _refusal(err: UnsafeConfigError, source: str) -> CheckpointError:
    """A checkpoint's one-line message for what :mod:`lyricseg.utils.instantiate` refused."""
    return CheckpointError(f"{source}: refusing the stored {err.where}: {err.what}")


def _check_data(node: Any, where: str, source: str) -> None:
    """Refuse anything in a stored record that is not plain, bounded, literal data.

    The form of a buildable config (no interpolation, only ``_target_`` and ``_partial_``)
    is :func:`~lyricseg.utils.instantiate.check_instantiable`'s; this adds what a checkpoint
    needs besides: plain types, finite numbers, bounded integers and :data:`RANGES`.

    Raises:
        CheckpointError: Naming the first offending value and where it sits.
    """
    try:
        check_instantiable(node, None, where)
    except UnsafeConfigError as err:
        raise _refusal(err, source) from None
    _check_plain(node, where, source)


def _check_plain(node: Any, where: str, source: str) -> None:
    def refuse(what: str) -> CheckpointError:
        return CheckpointError(f"{source}: refusing the stored {where}: {what}")

    if isinstance(node, str | bool) or node is None:
        pass
    elif isinstance(node, Mapping):
        for key, value in node.items():
            _check_plain(value, f"{where}.{key}", source)
            if key in RANGES and isinstance(value, int | float) and not isinstance(value, bool):
                low, high = RANGES[key]
                if not low <= value <= high:
                    raise CheckpointError(
                        f"{source}: refusing the stored {where}.{key}: {value} is outside "
                        f"[{low}, {high}]"
                    )
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            _check_plain(value, f"{where}[{i}]", source)
    elif isinstance(node, int):
        if abs(node) > MAX_INT:
            raise refuse(f"{node} is out of range")
    elif isinstance(node, float):
        if not math.isfinite(node):
            raise refuse(f"{node} is not a finite number")
    else:
        raise refuse(f"a {type(node).__name__} is not plain data")


def check_targets(node: Any, where: str, source: str) -> None:
    """Refuse any ``_target_`` in ``node`` that is not on :func:`allowed_targets`.

    Raises:
        CheckpointError: Naming the first offending target and where it sits.
    """
    try:
        check_instantiable(node, buildable_classes(), where)
    except UnsafeConfigError as err:
        if err.target is None:
            raise _refusal(err, source) from None
        raise CheckpointError(
            f"{source}: refusing to build {err.target!r} ({err.where}): a checkpoint may only "
            "name concrete lyricseg feature, network, decoder and calibrator classes"
        ) from None


def _root_types() -> dict[str, type]:
    """What the object built from each part of a record must be."""
    return {"net": torch.nn.Module, "features": FeatureExtractor, "decoder": Decoder}


def check_config(node: Any, key: str, source: str) -> None:
    """Validate one stored config (``net``, ``features`` or ``decoder``) before building it.

    Raises:
        CheckpointError: For non-literal or unbounded values, a foreign or abstract
            ``_target_``, or a root that does not build the kind of object ``key`` needs.
    """
    if not isinstance(node, Mapping):
        raise CheckpointError(f"{source}: the stored {key} is not a mapping")
    _check_data(node, key, source)
    check_targets(node, key, source)
    expected = _root_types()[key]
    cls = buildable_classes().get(node.get("_target_"))
    if cls is None or not issubclass(cls, expected) or node.get("_partial_"):
        raise CheckpointError(
            f"{source}: refusing the stored {key}: it must build a {expected.__name__}, "
            f"not {node.get('_target_')!r}"
        )


def _check_names(names: Any, where: str, noun: str, source: str) -> None:
    """Refuse a stored vocabulary that is not a short list of short, distinct names."""

    def refuse(what: str) -> CheckpointError:
        return CheckpointError(f"{source}: refusing the stored {where}: {what}")

    if not isinstance(names, list | tuple) or not names:
        raise refuse(f"{_short(names)} is not a non-empty list of {noun} names")
    if len(names) > MAX_SECTION_CLASSES:
        raise refuse(f"{len(names)} {noun}s; at most {MAX_SECTION_CLASSES}")
    for name in names:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_CLASS_CHARS:
            raise refuse(
                f"{_short(name)} is not a {noun} name (a non-empty string of at most "
                f"{MAX_CLASS_CHARS} characters)"
            )
    if len(set(names)) != len(names):
        raise refuse(f"{_short(list(names))} names a {noun} twice")


def _check_table(table: Any, conventions: int, classes: int | None, source: str) -> None:
    """Refuse a joint decoder's ``label_given_class`` that is not a ``[K][S][2]`` table."""
    shape = f"[{conventions}][{classes if classes is not None else 'S'}][2]"

    def valid_row(row: Any) -> bool:
        return (
            isinstance(row, list | tuple)
            and len(row) == 2
            and all(isinstance(p, int | float) and not isinstance(p, bool) for p in row)
            and all(0.0 <= p <= 1.0 for p in row)
            and sum(row) > 0
        )

    ok = (
        isinstance(table, list | tuple)
        and len(table) == conventions
        and all(
            isinstance(rows, list | tuple)
            and rows
            and (classes is None or len(rows) == classes)
            and all(valid_row(row) for row in rows)
            for rows in table
        )
    )
    if not ok:
        raise CheckpointError(
            f"{source}: refusing the stored decoder.label_given_class: it must be a {shape} "
            "table of probabilities (one per convention and section class)"
        )


def check_vocabulary(net: Mapping[str, Any], decoder: Mapping[str, Any], source: str) -> None:
    """Validate the vocabularies a record carries (after :func:`check_config`).

    A network names its verse/chorus conventions in ``conventions`` and, with ``sections``,
    its classes in ``section_classes``: lists of at most :data:`MAX_SECTION_CLASSES`
    distinct, non-empty names of at most :data:`MAX_CLASS_CHARS` characters; a decoder's
    ``label_given_class`` is a ``[conventions][section classes][2]`` table of probabilities.

    Raises:
        CheckpointError: Naming what is wrong with a list.
    """
    conventions = net.get("conventions")
    _check_names(conventions, "net.conventions", "convention", source)
    classes = net.get("section_classes")
    if net.get("sections") or classes is not None:
        _check_names(classes, "net.section_classes", "class", source)
    table = decoder.get("label_given_class")
    if table is not None:
        _check_table(table, len(conventions), None if classes is None else len(classes), source)


def _build(node: Any) -> Any:
    """Build a checked config from the allow-listed classes (see :func:`safe_instantiate`)."""
    return safe_instantiate(node, buildable_classes())


@dataclass(frozen=True)
class ModelRecord:
    """What a checkpoint stores about the model besides its weights.

    Attributes:
        net: Resolved network config, ``input_dim`` and ``ssm_channels`` included.
        features: Resolved feature-extractor config.
        decoder: Resolved decoder config.
        calibrator: :meth:`lyricseg.calibration.Calibrator.to_dict` output, or None.
        lyricseg_version: Version of lyricseg that wrote the file.
        feature_version: Feature computation version the weights were trained on.
    """

    net: dict[str, Any]
    features: dict[str, Any]
    decoder: dict[str, Any]
    calibrator: dict[str, Any] | None = None
    lyricseg_version: str = field(default_factory=lyricseg_version)
    feature_version: int = field(default_factory=_feature_version)

    def to_dict(self) -> dict[str, Any]:
        """The ``"lyricseg"`` section (plain containers only)."""
        return {
            "format_version": FORMAT_VERSION,
            "lyricseg_version": self.lyricseg_version,
            "feature_version": self.feature_version,
            "net": self.net,
            "features": self.features,
            "decoder": self.decoder,
            "calibrator": self.calibrator,
        }

    def with_calibrator(self, calibrator: Any | None) -> ModelRecord:
        """A copy carrying a fitted calibrator (or none)."""
        data = None if calibrator is None else calibrator.to_dict()
        return ModelRecord(
            self.net,
            self.features,
            self.decoder,
            data,
            self.lyricseg_version,
            self.feature_version,
        )

    def build_net(self) -> torch.nn.Module:
        """A freshly initialized network of the stored architecture."""
        return _build(self.net)

    def build_features(self) -> Any:
        """The stored feature extractor."""
        return _build(self.features)

    def build_decoder(self) -> torch.nn.Module:
        """The stored decoder."""
        return _build(self.decoder)

    def build_calibrator(self) -> Any | None:
        """The stored calibrator, or None."""
        if self.calibrator is None:
            return None
        return calibrator_from_dict(self.calibrator, calibrator_targets())


def make_record(net: Mapping[str, Any], features: Mapping[str, Any], decoder: Any) -> ModelRecord:
    """The record of a model about to be trained, from resolved config containers.

    The record is checked as a checkpoint's would be, so a model that could not be loaded
    back is refused before training.

    Args:
        net: The network config, complete (``input_dim`` and ``ssm_channels`` filled in).
        features: The feature-extractor config.
        decoder: The decoder config (None means argmax).

    Raises:
        CheckpointError: When a config names a class or value a checkpoint may not hold.
    """
    decoder = decoder or {"_target_": f"{ArgmaxDecoder.__module__}.ArgmaxDecoder"}
    record = ModelRecord(net=dict(net), features=dict(features), decoder=dict(decoder))
    for key in ("net", "features", "decoder"):
        check_config(getattr(record, key), key, "the configured model")
    check_vocabulary(record.net, record.decoder, "the configured model")
    return record


def embed(checkpoint: dict[str, Any], record: ModelRecord) -> None:
    """Put the record into a checkpoint dict that Lightning is about to save."""
    checkpoint[SECTION] = record.to_dict()


def save_model(path: str | Path, net: torch.nn.Module, record: ModelRecord) -> Path:
    """Write the model file that prediction reads: weights and record, atomically.

    Args:
        path: Destination (``.ckpt``).
        net: The trained network (its ``state_dict`` is stored under :data:`NET_PREFIX`).
        record: What rebuilds it.

    Returns:
        The path written.
    """
    state = {f"{NET_PREFIX}{k}": v.detach().cpu().clone() for k, v in net.state_dict().items()}
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        torch.save({"state_dict": state, SECTION: record.to_dict()}, handle)
    return path


# --- reading -------------------------------------------------------------------------------


def _upgrade_v1(section: dict[str, Any], source: str) -> dict[str, Any]:
    """Format 1 (lyricseg 0.1): ``{"config": {features, model, decoder, ...}, "input_dim"}``.

    Its ``model`` config held the LyricsTagger's arguments; the network's are picked out.
    Feature version 1 is implied.
    """
    config = section.get("config")
    if not isinstance(config, dict) or "input_dim" not in section:
        raise CheckpointError(f"{source}: format 1 checkpoint without 'config' or 'input_dim'")
    model = config.get("model") or {}
    keys = ("hidden_size", "num_layers", "dropout", "attention", "projection_size", "ssm_encoder")
    features = config.get("features") or {}
    net = {
        "_target_": "lyricseg.models.components.TaggerNet",
        "input_dim": section["input_dim"],
        "ssm_channels": len(features.get("ssm_views") or []),
        **{k: model[k] for k in keys if k in model},
    }
    return {
        "format_version": 2,
        "lyricseg_version": "0.1.0",
        "feature_version": 1,
        "net": net,
        "features": features,
        "decoder": config.get("decoder"),
        "calibrator": section.get("calibrator"),
    }


def _upgrade_v2(section: dict[str, Any], source: str) -> dict[str, Any]:
    """Format 2 (lyricseg 0.2): ``net.sections: true`` without the classes it predicts.

    Such a model was trained on the packaged section map of its day; it gets today's class
    list (and, for the joint decoder, today's chorus class ids), which is what format 2 read
    at prediction time. A model trained before a class was added to ``sections.yaml`` no
    longer matches its weights then, and says so.
    """
    section_map = default_section_map()
    net, decoder = section.get("net"), section.get("decoder")
    if isinstance(net, dict) and net.get("sections") and "section_classes" not in net:
        net = {**net, "section_classes": list(section_map.classes)}
    target = decoder.get("_target_") if isinstance(decoder, dict) else None
    if buildable_classes().get(target) is JointDecoder and decoder.get("chorus_classes") is None:
        decoder = {**decoder, "chorus_classes": section_map.chorus_ids()}
    return {**section, "format_version": 3, "net": net, "decoder": decoder}


def _upgrade_v3(section: dict[str, Any], source: str) -> dict[str, Any]:
    """Format 3 (lyricseg 0.2): the calibrator named its class under ``"target"``.

    The key becomes ``_target_``, so the calibrator is built like every other stored config;
    the class it names is checked after the upgrade as any other.
    """
    calibrator = section.get("calibrator")
    if isinstance(calibrator, dict) and "target" in calibrator:
        calibrator = {
            ("_target_" if key == "target" else key): value for key, value in calibrator.items()
        }
    return {**section, "format_version": 4, "calibrator": calibrator}


def _upgrade_v4(section: dict[str, Any], source: str) -> dict[str, Any]:
    """Format 4: one verse/chorus head; a joint decoder that read labels off section classes.

    The network gets the one convention it has,
    :data:`~lyricseg.data.conventions.DEFAULT_CONVENTION`; a joint decoder's chorus class ids
    become a table with P(label 1 | class) = 1 on those classes and 0 elsewhere, which
    decodes exactly as formats 3 and 4 did (the label is 1 exactly on the chorus classes).
    """
    net, decoder = section.get("net"), section.get("decoder")
    if isinstance(net, dict) and "conventions" not in net:
        net = {**net, "conventions": [DEFAULT_CONVENTION]}
    if isinstance(decoder, dict) and "chorus_classes" in decoder:
        chorus = decoder["chorus_classes"]
        decoder = {k: v for k, v in decoder.items() if k != "chorus_classes"}
        classes = net.get("section_classes") if isinstance(net, dict) else None
        if chorus is not None and isinstance(classes, list | tuple):
            if not isinstance(chorus, list | tuple) or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(classes)
                for i in chorus
            ):
                raise CheckpointError(
                    f"{source}: refusing the stored decoder.chorus_classes: {_short(chorus)} "
                    f"are not ids among the {len(classes)} section classes"
                )
            table = [[1.0, 0.0] if i not in chorus else [0.0, 1.0] for i in range(len(classes))]
            decoder["label_given_class"] = [table]
    return {**section, "format_version": 5, "net": net, "decoder": decoder}


#: Explicit upgrades, each from the format version it reads to the next one.
UPGRADES: dict[int, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    1: _upgrade_v1,
    2: _upgrade_v2,
    3: _upgrade_v3,
    4: _upgrade_v4,
}


def calibrator_targets() -> dict[str, type]:
    """Calibrators a checkpoint may name: exported, concrete, with fitted state to restore."""
    fitted = set(calibrator_classes().values())
    return {name: cls for name, cls in buildable_classes().items() if cls in fitted}


def _check_calibrator(data: Any, source: str) -> None:
    allowed = calibrator_targets()
    target = data.get("_target_") if isinstance(data, dict) else None
    if not isinstance(target, str) or target not in allowed:
        raise CheckpointError(
            f"{source}: refusing calibrator {target!r}: not a concrete lyricseg calibrator"
        )
    try:
        check_instantiable(data, allowed, "calibrator")
    except UnsafeConfigError as err:
        raise _refusal(err, source) from None


def _read_section(section: Any, source: str) -> ModelRecord:
    if not isinstance(section, dict):
        raise CheckpointError(f"{source}: the lyricseg section is not a mapping")
    _check_data(section, "record", source)
    version = section.get("format_version", 1 if "config" in section else None)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{source}: the lyricseg section has no format version")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: checkpoint format {version} is newer than this lyricseg "
            f"({lyricseg_version()}, format {FORMAT_VERSION}); upgrade lyricseg"
        )
    while version < FORMAT_VERSION:
        if version not in UPGRADES:
            raise CheckpointError(
                f"{source}: checkpoint format {version} cannot be read by this lyricseg "
                f"(format {FORMAT_VERSION}); retrain the model"
            )
        section = UPGRADES[version](section, source)
        version = section["format_version"]
    missing = [k for k in ("net", "features", "decoder") if not isinstance(section.get(k), dict)]
    if missing:
        raise CheckpointError(f"{source}: the lyricseg section lacks {', '.join(missing)}")
    for key in ("net", "features", "decoder"):
        check_config(section[key], key, source)
    check_vocabulary(section["net"], section["decoder"], source)
    calibrator = section.get("calibrator")
    if calibrator is not None:
        _check_calibrator(calibrator, source)
    feature_version = section.get("feature_version")
    if feature_version != _feature_version():
        raise CheckpointError(
            f"{source}: the model was trained on features version {feature_version}, this "
            f"lyricseg ({lyricseg_version()}) computes version {_feature_version()}; retrain it "
            "or use the lyricseg version that wrote it "
            f"({section.get('lyricseg_version', 'unknown')})"
        )
    return ModelRecord(
        net=section["net"],
        features=section["features"],
        decoder=section["decoder"],
        calibrator=calibrator,
        lyricseg_version=str(section.get("lyricseg_version", "unknown")),
        feature_version=feature_version,
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _archive_problem(path: Path) -> str | None:
    """Why ``path`` is not an intact torch zip archive (every member stored, CRCs right)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if any(m.compress_type != zipfile.ZIP_STORED for m in archive.infolist()):
                return "it holds compressed members, which torch never writes"
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        return f"it is not an intact torch zip archive ({_first_line(err)})"
    if bad is not None:
        return f"{bad} fails its CRC check: the file is damaged"
    return None


def load_raw(path: str | Path) -> dict[str, Any]:
    """``torch.load`` a local checkpoint safely (tensors and plain containers only).

    Raises:
        CheckpointError: For a URL, or a file that is missing, damaged (a CRC of its zip
            archive fails), unreadable or carries pickled objects.
    """
    if _URL.match(str(path)):
        raise CheckpointError(f"refusing {path}: checkpoints are read from local files only")
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    problem = _archive_problem(path)
    if problem:
        raise CheckpointError(f"cannot read checkpoint {path}: {problem}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        reason = _first_line(err)
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            reason = "it holds pickled Python objects, which lyricseg never loads"
        raise CheckpointError(f"cannot read checkpoint {path}: {reason}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a lyricseg checkpoint (not a mapping)")
    return data


class _Oversized(Exception):
    """A network under construction holds more parameters than the stored weights."""


_BUDGET = threading.local()


def _count_parameter(module: torch.nn.Module, name: str, param: Any) -> None:
    left = getattr(_BUDGET, "left", None)  # None in other threads and outside a check
    if left is not None and param is not None:
        left[0] -= 1
        left[1] -= param.numel()
        if left[0] < 0 or left[1] < 0:
            raise _Oversized


def weights_problem(net: Mapping[str, Any], weights: Mapping[str, Any]) -> str | None:
    """Why ``weights`` do not fit the network ``net`` describes, found without allocating it.

    The network is built on the ``meta`` device (shapes only); its construction stops as soon
    as it holds twice the parameters or elements of ``weights``, so a record claiming a huge
    architecture costs neither memory nor time.

    Args:
        net: A checked network config (see :func:`check_config`).
        weights: The network's ``state_dict`` as stored (prefix removed).

    Returns:
        None when every key and shape matches and every value is finite, else the first
        problem.

    Raises:
        CheckpointError: When the config cannot build a network at all.
    """
    for key, value in weights.items():
        if not torch.is_tensor(value) or value.layout != torch.strided:
            return f"{key} is not a dense tensor"
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return f"{key} holds NaN or infinite values"
    # Twice the file's tensors and elements: near misses still get their shapes compared.
    _BUDGET.left = [2 * len(weights), 2 * sum(w.numel() for w in weights.values())]
    hook = torch.nn.modules.module.register_module_parameter_registration_hook(_count_parameter)
    try:
        with torch.device("meta"):
            module = _build(net)
    except _Oversized:
        return "the stored architecture has far more parameters than the file holds"
    except Exception as err:  # a stored config this lyricseg cannot build
        raise CheckpointError(f"cannot rebuild the stored model: {_first_line(err)}") from None
    finally:
        hook.remove()
        _BUDGET.left = None
    if not isinstance(module, torch.nn.Module):
        return f"the stored net builds a {type(module).__name__}, not a torch module"
    expected = module.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        return f"missing {missing[:3]}, unexpected {unexpected[:3]}"
    for key, value in expected.items():
        if tuple(weights[key].shape) != tuple(value.shape):
            return (
                f"{key} is {list(weights[key].shape)} in the file, the architecture needs "
                f"{list(value.shape)}"
            )
    return None


@dataclass
class LoadedModel:
    """A checkpoint's model, rebuilt and ready for inference.

    Attributes:
        net: The network in eval mode with the stored weights.
        features: The feature extractor it was trained with.
        decoder: Turns logits ``[B, T, C]`` into labels ``[B, T]``.
        calibrator: Maps logits to calibrated P(chorus), or None.
        record: The stored record.
        path: Where it was read from.
    """

    net: torch.nn.Module
    features: Any
    decoder: torch.nn.Module
    calibrator: Any | None
    record: ModelRecord
    path: Path


def _record_and_weights(
    data: dict[str, Any], source: str
) -> tuple[ModelRecord, dict[str, torch.Tensor]]:
    if SECTION not in data:
        what = "a plain state_dict" if all(torch.is_tensor(v) for v in data.values()) else ""
        raise CheckpointError(
            f"{source} is not a lyricseg checkpoint"
            + (f" ({what}: it has no lyricseg section)" if what else " (no lyricseg section)")
        )
    record = _read_section(data[SECTION], source)
    state = data.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: checkpoint has no state_dict")
    weights = {
        k[len(NET_PREFIX) :]: v
        for k, v in state.items()
        if isinstance(k, str) and k.startswith(NET_PREFIX)
    }
    if not weights:
        raise CheckpointError(f"{source}: checkpoint holds no network weights")
    try:
        problem = weights_problem(record.net, weights)
    except CheckpointError as err:
        raise CheckpointError(f"{source}: {err}") from None
    if problem:
        raise CheckpointError(f"{source}: weights do not match the stored model: {problem}")
    return record, weights


def read_record(path: str | Path) -> tuple[ModelRecord, dict[str, torch.Tensor]]:
    """Read and validate a checkpoint's record and network weights, building nothing real.

    Returns:
        The record and the network's ``state_dict`` (prefix removed), which fits the
        record's architecture key by key and shape by shape.

    Raises:
        CheckpointError: For a missing, damaged, unsafe, foreign or incompatible file.
    """
    return _record_and_weights(load_raw(path), str(path))


def load_model(path: str | Path) -> LoadedModel:
    """Rebuild features, network, decoder and calibrator from a checkpoint alone.

    Args:
        path: A model file or a Lightning training checkpoint written by lyricseg.

    Raises:
        CheckpointError: For a missing, damaged, unsafe, foreign or incompatible file, or
            weights that do not fit the stored architecture.
    """
    record, weights = read_record(path)
    try:
        net = record.build_net()
        features = record.build_features()
        decoder = record.build_decoder()
        calibrator = record.build_calibrator()
    except Exception as err:  # a stored config this lyricseg cannot build
        raise CheckpointError(
            f"{path}: cannot rebuild the stored model: {_first_line(err)}"
        ) from None
    try:
        net.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: weights do not match the stored model: {_first_line(err)}"
        ) from None
    net.eval()
    return LoadedModel(net, features, decoder, calibrator, record, Path(path))


def _difference(ours: Any, theirs: Any, where: str) -> str:
    """The first place where two configs differ, for a message."""
    if isinstance(ours, Mapping) and isinstance(theirs, Mapping):
        for key in sorted(set(ours) | set(theirs), key=str):
            if ours.get(key) != theirs.get(key):
                return _difference(ours.get(key), theirs.get(key), f"{where}.{key}")
    return f"{where} is {_short(theirs)} there, {_short(ours)} here"


def check_resume(path: str | Path, net: Mapping[str, Any], features: Mapping[str, Any]) -> None:
    """Refuse a ``ckpt_path`` that training cannot resume from.

    The file is read as prediction reads it (local, intact, ``weights_only``, checked record
    and weights); it must be a Lightning training checkpoint (``last.ckpt``), not a model file,
    with the configured features and a network whose weights fit the configured one.

    Args:
        path: The ``ckpt_path`` given.
        net: The configured network (``model.net``, resolved; ``input_dim``,
            ``ssm_channels`` and, with ``sections``, ``section_classes`` are taken from the
            checkpoint).
        features: The configured feature extractor (``features``, resolved).

    Raises:
        CheckpointError: Naming the problem in one line.
    """
    source = f"ckpt_path={path}"
    try:
        data = load_raw(path)
    except CheckpointError as err:
        raise CheckpointError(f"ckpt_path: {err}") from None
    if "loops" not in data or "optimizer_states" not in data:
        if SECTION in data:
            raise CheckpointError(
                f"{source} is a model file, which holds no training state; resume from the "
                "run's checkpoints/last.ckpt"
            )
        raise CheckpointError(f"{source} is not a lyricseg training checkpoint")
    record, weights = _record_and_weights(data, f"ckpt_path: {path}")
    advice = "resume with the overrides that trained it, or start a new run"
    if dict(features) != record.features:
        where = _difference(dict(features), record.features, "features")
        raise CheckpointError(f"{source} was trained on other features ({where}); {advice}")
    ssm_channels = record.net.get("ssm_channels", 0)
    configured = {**net, "input_dim": record.net["input_dim"], "ssm_channels": ssm_channels}
    if configured.get("sections"):
        stored = record.net.get("section_classes")
        configured["section_classes"] = stored or list(default_section_map().classes)
    if not configured.get("conventions"):  # filled in from the corpora, like the classes
        configured["conventions"] = record.net["conventions"]
    check_config(configured, "net", "the configured model")
    problem = weights_problem(configured, weights)
    if problem:
        ours, theirs = configured, record.net
        filled = ("section_classes", "conventions")
        chosen = [{k: v for k, v in n.items() if k not in filled} for n in (ours, theirs)]
        if chosen[0] != chosen[1]:  # name a setting the user chose, not the filled-in list
            ours, theirs = chosen
        where = _difference(ours, theirs, "model.net")
        raise CheckpointError(f"{source} holds another network ({where}: {problem}); {advice}")


def pretrained_path() -> Path:
    """The checkpoint shipped inside the package.

    Raises:
        CheckpointError: When this installation carries no pretrained model.
    """
    if not PRETRAINED.is_file():
        raise CheckpointError(
            f"no pretrained model in this installation ({PRETRAINED} is missing); pass "
            "ckpt=PATH to a checkpoint, or build one with `make pretrained`"
        )
    return PRETRAINED
