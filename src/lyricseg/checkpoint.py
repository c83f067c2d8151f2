"""The checkpoint format: the one seam between training and prediction.

A lyricseg checkpoint is a ``torch.save`` file holding plain containers and tensors only, so
it loads with ``weights_only=True``::

    {
      "state_dict": {"net.<param>": Tensor, ...},      # the tagger network's weights
      "lyricseg": {                                     # this module's section
        "format_version": 2,
        "lyricseg_version": "0.2.0",
        "feature_version": 2,
        "net": {"_target_": "lyricseg.models.components.TaggerNet", "input_dim": ..., ...},
        "features": {"_target_": "lyricseg.features.FeatureExtractor", ...},
        "decoder": {"_target_": "lyricseg.models.components.ViterbiDecoder", ...},
        "calibrator": {"target": ..., "name": ..., "state": {...}} | None,
      },
    }

Two kinds of files carry it. Lightning's training checkpoints (``last.ckpt``,
``best-state.ckpt``) add optimizer, loop and callback state for resuming; the model file that
training writes once, after calibration (``best.ckpt``), holds only the above. Both predict.

This module is the only code that writes or reads the ``"lyricseg"`` section. Reading is
safe: ``torch.load(weights_only=True)`` never unpickles objects, and every ``_target_`` the
file names must be on :func:`allowed_targets` before anything is instantiated.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.io import atomic_write

#: Version of the layout above. Older layouts load through :data:`UPGRADES`.
FORMAT_VERSION = 2
#: Key of lyricseg's section inside a checkpoint.
SECTION = "lyricseg"
#: Prefix of the network's weights in ``state_dict`` (the LightningModule's ``net`` attribute).
NET_PREFIX = "net."
#: Where the model shipped with the package lives.
PRETRAINED = Path(__file__).parent / "pretrained" / "lyricseg-base.ckpt"


class CheckpointError(LyricsegError):
    """A checkpoint that cannot be used: missing, unreadable, foreign, unsafe or too new."""


def lyricseg_version() -> str:
    """The installed lyricseg version (the package's, else the source tree's)."""
    try:
        return importlib.metadata.version("lyricseg")
    except importlib.metadata.PackageNotFoundError:
        import lyricseg

        return lyricseg.__version__


def _feature_version() -> int:
    from lyricseg.features.extractor import FEATURE_VERSION

    return FEATURE_VERSION


@functools.cache
def allowed_targets() -> frozenset[str]:
    """Dotted class paths a checkpoint may name: lyricseg's features, net parts, decoders.

    Built from the public exports of :mod:`lyricseg.features`,
    :mod:`lyricseg.models.components` and :mod:`lyricseg.calibration`, so a new component is
    allowed by exporting it there, and nothing outside lyricseg ever is.
    """
    from lyricseg import calibration, features
    from lyricseg.models import components

    names = set()
    for module in (features, components, calibration):
        for attr in module.__all__:
            obj = getattr(module, attr)
            if isinstance(obj, type):
                names.add(f"{module.__name__}.{attr}")
                names.add(f"{obj.__module__}.{obj.__qualname__}")
    return frozenset(names)


def _targets(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "_target_":
                yield where, value
            else:
                yield from _targets(value, f"{where}.{key}")
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from _targets(value, f"{where}[{i}]")


def check_targets(node: Any, where: str, source: str) -> None:
    """Refuse any ``_target_`` in ``node`` that is not on :func:`allowed_targets`.

    Raises:
        CheckpointError: Naming the first offending target and where it sits.
    """
    allowed = allowed_targets()
    for place, target in _targets(node, where):
        if target not in allowed:
            raise CheckpointError(
                f"{source}: refusing to build {target!r} ({place}): a checkpoint may only name "
                "lyricseg feature, network, decoder and calibrator classes"
            )


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
        return _instantiate(self.net)

    def build_features(self) -> Any:
        """The stored feature extractor."""
        return _instantiate(self.features)

    def build_decoder(self) -> torch.nn.Module:
        """The stored decoder."""
        return _instantiate(self.decoder)

    def build_calibrator(self) -> Any | None:
        """The stored calibrator, or None."""
        if self.calibrator is None:
            return None
        from lyricseg.calibration import calibrator_from_dict

        return calibrator_from_dict(self.calibrator)


def _instantiate(node: Mapping[str, Any]) -> Any:
    from hydra.utils import instantiate

    return instantiate(dict(node), _convert_="partial")


def make_record(net: Mapping[str, Any], features: Mapping[str, Any], decoder: Any) -> ModelRecord:
    """The record of a model about to be trained, from resolved config containers.

    Args:
        net: The network config, complete (``input_dim`` and ``ssm_channels`` filled in).
        features: The feature-extractor config.
        decoder: The decoder config (None means argmax).
    """
    from lyricseg.models.components import ArgmaxDecoder

    decoder = decoder or {"_target_": f"{ArgmaxDecoder.__module__}.ArgmaxDecoder"}
    return ModelRecord(net=dict(net), features=dict(features), decoder=dict(decoder))


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


#: Explicit upgrades, each from the format version it reads to the next one.
UPGRADES: dict[int, Callable[[dict[str, Any], str], dict[str, Any]]] = {1: _upgrade_v1}


def _read_section(section: Any, source: str) -> ModelRecord:
    if not isinstance(section, dict):
        raise CheckpointError(f"{source}: the lyricseg section is not a mapping")
    version = section.get("format_version", 1 if "config" in section else None)
    if not isinstance(version, int):
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
        check_targets(section[key], key, source)
    calibrator = section.get("calibrator")
    if calibrator is not None:
        target = calibrator.get("target") if isinstance(calibrator, dict) else None
        if target not in allowed_targets():
            raise CheckpointError(
                f"{source}: refusing calibrator {target!r}: not a lyricseg calibrator"
            )
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


def load_raw(path: str | Path) -> dict[str, Any]:
    """``torch.load`` a checkpoint safely (tensors and plain containers only).

    Raises:
        CheckpointError: When the file is missing, unreadable or carries pickled objects.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            reason = "it holds pickled Python objects, which lyricseg never loads"
        raise CheckpointError(f"cannot read checkpoint {path}: {reason}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a lyricseg checkpoint (not a mapping)")
    return data


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


def read_record(path: str | Path) -> tuple[ModelRecord, dict[str, torch.Tensor]]:
    """Read and validate a checkpoint's record and its network weights, building nothing.

    Returns:
        The record and the network's ``state_dict`` (prefix removed).

    Raises:
        CheckpointError: For a missing, unreadable, unsafe, foreign or incompatible file.
    """
    data = load_raw(path)
    source = str(path)
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
    weights = {k[len(NET_PREFIX) :]: v for k, v in state.items() if k.startswith(NET_PREFIX)}
    if not weights:
        raise CheckpointError(f"{source}: checkpoint holds no network weights")
    return record, weights


def load_model(path: str | Path) -> LoadedModel:
    """Rebuild features, network, decoder and calibrator from a checkpoint alone.

    Args:
        path: A model file or a Lightning training checkpoint written by lyricseg.

    Raises:
        CheckpointError: For a missing, unreadable, unsafe, foreign or incompatible file, or
            weights that do not fit the stored architecture.
    """
    record, weights = read_record(path)
    try:
        net = record.build_net()
        features = record.build_features()
        decoder = record.build_decoder()
        calibrator = record.build_calibrator()
    except LyricsegError:
        raise
    except Exception as err:  # a stored config this lyricseg cannot build
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: cannot rebuild the stored model: {reason}") from None
    try:
        net.load_state_dict(weights)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not match the stored model: {first}") from None
    net.eval()
    return LoadedModel(net, features, decoder, calibrator, record, Path(path))


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
