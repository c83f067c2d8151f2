"""Convert a training config of the earlier single-file format into a lyricseg experiment.

The earlier format is one YAML file with the sections ``loss``, ``anti_collapse``, ``data``,
``model``, ``training``, ``emergency_monitoring``, ``calibration``, ``validation_strategy`` and
``features``. Each known key becomes a group choice (``defaults: - override /loss: ...``) or a
value (``loss.label_smoothing: 0.15``) of a ``# @package _global_`` experiment file. Keys with
no lyricseg equivalent are collected in :attr:`Migration.unmapped` and written as comments.

What this module knows is the earlier format: its names and what they became. What lyricseg
is made of comes from lyricseg itself: the group options, class paths and defaults from the
packaged ``conf/`` (composed with Hydra), the parameter names from the signatures of the
classes it names. A key is only carried over to a parameter the target class takes.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lyricseg.utils import LyricsegError, get_logger

log = get_logger(__name__)

#: Old loss ``type`` -> lyricseg loss config (an option of ``conf/loss/``).
LOSS_TYPES = {
    "cross_entropy": "cross_entropy",
    "ce": "cross_entropy",
    "boundary_aware_cross_entropy": "boundary_aware",
    "boundary_aware": "boundary_aware",
    "focal": "focal",
    "tversky": "tversky",
}
#: The loss the older layout (settings under ``anti_collapse``, no ``loss`` section) trained.
LEGACY_LOSS = "cross_entropy"
#: Model configs for an old model without and with attention.
MODEL_PLAIN, MODEL_ATTENTION = "bilstm", "bilstm_attention"
#: Old model keys -> parameters of the network (``model.net``) and of its attention block.
NET_KEYS = {"hidden_dim": "hidden_size", "num_layers": "num_layers", "dropout": "dropout"}
ATTENTION_KEYS = {
    "attention_heads": "heads",
    "attention_dropout": "dropout",
    "positional_encoding": "positional_encoding",
    "window_size": "window",
}
#: Old scheduler names -> scheduler configs; old schedule keys -> their parameters.
SCHEDULERS = {"plateau": "plateau", "cosine": "warmup_cosine", "warmup_cosine": "warmup_cosine"}
#: Old ``validation_strategy`` -> (monitor, monitor_mode).
MONITORS = {
    "boundary_f1": ("val/boundary_f1", "max"),
    "windowdiff": ("val/window_diff", "min"),
    "window_diff": ("val/window_diff", "min"),
    "pk": ("val/pk", "min"),
    "macro_f1": ("val/macro_f1", "max"),
    "f1": ("val/macro_f1", "max"),
    "chorus_f1": ("val/chorus_f1", "max"),
    "accuracy": ("val/accuracy", "max"),
    "segment_iou": ("val/segment_iou", "max"),
    "val_loss": ("val/loss", "min"),
    "loss": ("val/loss", "min"),
}
#: Old calibration method names -> lyricseg calibration configs.
CALIBRATORS = {
    "temperature": "temperature",
    "temperature_scaling": "temperature",
    "platt": "platt",
    "platt_scaling": "platt",
    "isotonic": "isotonic",
    "isotonic_regression": "isotonic",
}
#: Old feature block -> (lyricseg view name, {old param: view param}); the view's class and
#: defaults are those of ``conf/features/default.yaml``.
FEATURE_VIEWS: dict[str, tuple[str, dict[str, str]]] = {
    "string_ssm": ("string", {"similarity_threshold": "threshold"}),
    "head_ssm": ("head", {"head_words": "words", "similarity_threshold": "threshold"}),
    "tail_ssm": ("tail", {"tail_words": "words", "similarity_threshold": "threshold"}),
    "phonetic_ssm": ("phonetic", {"similarity_threshold": "threshold"}),
    "syllable_pattern_ssm": ("syllable", {"similarity_threshold": "threshold"}),
}
#: Per-block keys that describe the old extractor's output, not the similarity itself.
FEATURE_IGNORED = ("enabled", "dimension")
#: The features config a converted experiment starts from; the old blocks add views to it.
BASE_FEATURES = "fast"
#: The features config whose views (classes, defaults) and block views the blocks map to.
FULL_FEATURES = "default"
#: Old ``emergency_monitoring`` keys -> ``callbacks.anti_collapse`` keys.
MONITORING = {
    "min_chorus_rate": "min_chorus_rate",
    "chorus_rate_min": "min_chorus_rate",
    "max_chorus_rate": "max_chorus_rate",
    "chorus_rate_max": "max_chorus_rate",
    "max_overconfidence_ratio": "max_overconfident",
    "overconfidence_ratio": "max_overconfident",
    "max_conf_over_95": "max_overconfident",
    "stop_training": "stop",
    "emergency_stop": "stop",
    "consecutive_epochs": "patience",
    "warmup_epochs": "warmup_epochs",
}
#: The callbacks config (and its entry) that the old monitoring thresholds become.
MONITOR_CALLBACK = "anti_collapse"
#: The over-confidence rate lyricseg logs uses this confidence threshold.
CONFIDENCE_LEVEL = 0.95
#: Top-level sections the converter knows.
SECTIONS = (
    "loss",
    "anti_collapse",
    "data",
    "model",
    "training",
    "emergency_monitoring",
    "calibration",
    "validation_strategy",
    "features",
)


@dataclass
class Migration:
    """The converted experiment.

    Attributes:
        source: The old config file.
        defaults: Group choices, e.g. ``{"loss": "boundary_aware"}`` (written as overrides).
        values: Nested values of the experiment (``{"loss": {"label_smoothing": 0.15}}``).
        mapped: ``old.key -> new.key`` for every key that was carried over.
        unmapped: ``old.key -> reason`` for every key with no lyricseg equivalent.
        notes: Other remarks (e.g. a data folder to pass on the command line).
    """

    source: Path | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    mapped: dict[str, str] = field(default_factory=dict)
    unmapped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def set(self, new_key: str, value: Any, old_key: str | None = None) -> None:
        """Set ``values[new.key] = value`` (dotted path) and record where it came from."""
        node = self.values
        *parents, leaf = new_key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        if old_key is not None:
            self.mapped[old_key] = new_key

    def get(self, new_key: str, default: Any = None) -> Any:
        """A value set earlier (dotted path)."""
        node: Any = self.values
        for part in new_key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def skip(self, old_key: str, reason: str) -> None:
        """Record a key that could not be mapped."""
        self.unmapped[old_key] = reason

    def to_yaml(self) -> str:
        """The experiment file's text."""
        name = self.source.name if self.source else "an earlier-format config"
        lines = [
            "# @package _global_",
            f"# Converted from {name} by `python -m lyricseg.migrate`.",
        ]
        if self.unmapped:
            lines.append("# Not converted (no lyricseg equivalent):")
            lines += [f"#   {key}: {reason}" for key, reason in self.unmapped.items()]
        lines += [f"# Note: {note}" for note in self.notes]
        body: dict[str, Any] = {}
        if self.defaults:
            body["defaults"] = [{f"override /{g}": c} for g, c in self.defaults.items()]
        text = yaml.safe_dump(body, sort_keys=False) if body else ""
        if self.values:
            text += "\n" + yaml.safe_dump(self.values, sort_keys=False)
        return "\n".join(lines) + "\n" + text


def _config_dir() -> Path:
    from lyricseg.migrate.check import default_config_dir

    return default_config_dir()


def _options(group: str) -> frozenset[str]:
    """The options of a group of the packaged config (``conf/<group>/*.yaml``)."""
    return frozenset(path.stem for path in (_config_dir() / group).glob("*.yaml"))


def _packaged(group: str, option: str) -> dict[str, Any]:
    """``conf/<group>/<option>.yaml`` of the packaged config, composed (defaults applied).

    Interpolations are kept as text: only names, targets and literal defaults are read.

    Raises:
        LyricsegError: When the packaged config has no such option.
    """
    return _compose(str(_config_dir().resolve()), group, _choice(group, option))


@functools.cache
def _compose(conf: str, group: str, option: str) -> dict[str, Any]:
    """One option of the config folder ``conf``, composed (cached: read-only)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = compose(overrides=[f"+{group}={option}"])
    return OmegaConf.to_container(cfg[group])


def _choice(group: str, option: str) -> str:
    """``option``, checked to be an option of ``group`` in the packaged config."""
    if option not in _options(group):
        raise LyricsegError(f"the packaged config has no {group}={option}")
    return option


def _node(group: str, option: str, path: str = "") -> dict[str, Any]:
    """The mapping at dotted ``path`` of a packaged option (its root for ``""``)."""
    node: Any = _packaged(group, option)
    for part in filter(None, path.split(".")):
        node = node[part]
    return node


@functools.cache
def _parameters_of(target: str) -> frozenset[str]:
    """Names of the parameters a class (or function) named by a config's ``_target_`` takes."""
    from hydra.utils import get_object

    obj = get_object(target)
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    params = inspect.signature(obj).parameters.values()
    return frozenset(p.name for p in params if p.kind not in skip and p.name != "self")


def _parameters(group: str, option: str, path: str = "") -> frozenset[str]:
    """Parameter names of what the packaged option builds at ``path`` (its ``_target_``)."""
    return _parameters_of(_node(group, option, path)["_target_"])


def _set_parameter(
    m: Migration, group: str, option: str, path: str, name: str, value: Any, old: str
) -> None:
    """Set ``<group>.<path>.<name>`` if the class that ``group=option`` builds there takes it."""
    if name in _parameters(group, option, path):
        m.set(".".join(filter(None, (group, path, name))), value, old)
    else:
        target = _node(group, option, path)["_target_"]
        m.skip(old, f"{target.rsplit('.', 1)[-1]} takes no {name!r}")


def _section(config: Mapping[str, Any], name: str, migration: Migration) -> dict[str, Any]:
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        migration.skip(name, f"expected a mapping, got {type(value).__name__}")
        return {}
    return dict(value)


def _loss(config: Mapping[str, Any], m: Migration) -> None:
    loss = _section(config, "loss", m)
    anti = _section(config, "anti_collapse", m)
    if "weighted_sampling" in anti:
        m.set(
            "data.weighted_sampling",
            bool(anti.pop("weighted_sampling")),
            "anti_collapse.weighted_sampling",
        )
    if not loss:
        # The older layout: loss settings under anti_collapse, the loss itself cross-entropy.
        if anti:
            m.defaults["loss"] = _choice("loss", LEGACY_LOSS)
        for key, value in anti.items():
            if key in _parameters("loss", LEGACY_LOSS):
                _loss_parameter(LEGACY_LOSS, key, value, f"anti_collapse.{key}", m)
            else:
                m.skip(f"anti_collapse.{key}", "unknown anti-collapse setting")
        return
    for key, value in anti.items():
        if key in _all_loss_parameters():
            if key in loss and loss[key] != value:
                m.skip(f"anti_collapse.{key}", f"superseded by loss.{key} ({loss[key]})")
            elif key not in loss:
                loss[key] = value
        else:
            m.skip(f"anti_collapse.{key}", "unknown anti-collapse setting")
    kind = str(loss.pop("type", LEGACY_LOSS))
    target = LOSS_TYPES.get(kind)
    if target is None:
        m.skip("loss.type", f"unknown loss type {kind!r}; kept the default loss")
        return
    m.defaults["loss"] = _choice("loss", target)
    m.mapped["loss.type"] = f"loss={target}"
    for key, value in loss.items():
        _loss_parameter(target, key, value, f"loss.{key}", m)


def _all_loss_parameters() -> frozenset[str]:
    """Parameters of any loss an old config can become."""
    return frozenset().union(*(_parameters("loss", t) for t in set(LOSS_TYPES.values())))


def _loss_parameter(target: str, key: str, value: Any, old: str, m: Migration) -> None:
    """Carry one old loss setting over to ``loss.<key>`` if the target's class takes it."""
    if key == "ignore_index":
        m.skip(old, "not needed: padding is excluded by the mask")
    elif key not in _parameters("loss", target):
        known = key in _all_loss_parameters()
        m.skip(old, f"not a parameter of loss={target}" if known else "unknown loss parameter")
    elif key == "class_weights":
        _class_weights(value, old, m)
    elif key == "num_classes" and value != 2:
        m.skip(old, f"lyricseg tags two classes (verse/chorus), got {value}")
    else:
        m.set(f"loss.{key}", value, old)


def _class_weights(value: Any, old: str, m: Migration) -> None:
    if value is None or value in ("none", False):
        m.set("loss.class_weights", None, old)
    elif isinstance(value, list | tuple) and len(value) == 2:
        m.set("loss.class_weights", [float(v) for v in value], old)
    elif value in ("balanced", "auto", True):
        m.set("loss.class_weights", "balanced", old)
    elif value == "effective":
        m.set("loss.class_weights", "effective", old)
    else:
        m.skip(old, f"unsupported class weights {value!r} (use [w_verse, w_chorus])")


def _data(config: Mapping[str, Any], m: Migration) -> None:
    data = _section(config, "data", m)
    files = {}
    for key, value in data.items():
        if key in ("train_file", "val_file", "test_file"):
            files[key] = Path(str(value))
        else:
            m.skip(f"data.{key}", "unknown data setting")
    if not files:
        return
    m.defaults["data"] = _choice("data", "lyrics")
    folders = {p.parent for p in files.values()}
    if len(folders) != 1:
        for key in files:
            m.skip(f"data.{key}", "files are in different folders; lyricseg reads one data_dir")
        m.notes.append("put train.jsonl/val.jsonl/test.jsonl in one folder: data.data_dir=...")
        return
    folder = folders.pop()
    m.set("data.data_dir", str(folder))
    for key, path in files.items():
        m.mapped[f"data.{key}"] = "data.data_dir"
        expected = key.replace("_file", ".jsonl")
        if path.name != expected:
            m.notes.append(f"data.{key}: lyricseg reads {folder / expected}, not {path.name}")


def _model(config: Mapping[str, Any], m: Migration) -> None:
    model = _section(config, "model", m)
    if not model:
        return
    attention = bool(model.pop("attention_enabled", False))
    option = _choice("model", MODEL_ATTENTION if attention else MODEL_PLAIN)
    if "attention_enabled" in config.get("model", {}):
        m.mapped["model.attention_enabled"] = f"model={option}"
    kind = str(model.pop("attention_type", "self"))
    m.defaults["model"] = option
    if attention:
        if kind not in ("self", "localized"):
            m.skip(
                "model.attention_type", f"{kind!r} has no equivalent; used global self-attention"
            )
        else:
            m.mapped["model.attention_type"] = "model.net.attention.window"
    for key, value in model.items():
        old = f"model.{key}"
        if key in NET_KEYS:
            _set_parameter(m, "model", option, "net", NET_KEYS[key], value, old)
        elif key == "layer_dropout":
            if "dropout" not in model:
                _set_parameter(m, "model", option, "net", NET_KEYS["dropout"], value, old)
            elif model["dropout"] != value:
                kept = model["dropout"]
                m.skip(old, f"lyricseg has one dropout rate; used model.net.dropout={kept}")
            else:
                m.mapped[old] = "model.net.dropout"
        elif key == "window_size" and not (attention and kind == "localized"):
            m.skip(old, "only used by localized attention")
        elif key in ATTENTION_KEYS:
            if attention:
                value = int(value) if key == "window_size" else value
                _set_parameter(m, "model", option, "net.attention", ATTENTION_KEYS[key], value, old)
            else:
                m.skip(old, "attention is disabled")
        elif key == "attention_dim":
            m.skip(old, "attention works at the BiLSTM output size (2 x hidden_size)")
        elif key == "max_seq_length":
            m.skip(old, "not needed: songs are padded per batch, any length fits")
        else:
            m.skip(old, "unknown model setting")


def _training(config: Mapping[str, Any], m: Migration) -> None:
    training = _section(config, "training", m)
    direct = {
        "batch_size": "data.batch_size",
        "learning_rate": "optimizer.lr",
        "weight_decay": "optimizer.weight_decay",
        "max_epochs": "trainer.max_epochs",
        "patience": "callbacks.early_stopping.patience",
        "min_delta": "callbacks.early_stopping.min_delta",
        "gradient_clip_norm": "trainer.gradient_clip_val",
    }
    scheduler = training.pop("scheduler", None)
    schedule_keys = {
        k: training.pop(k) for k in ("min_lr", "cosine_t_max", "warmup_epochs") if k in training
    }
    for key, value in training.items():
        if key in direct:
            m.set(direct[key], value, f"training.{key}")
        else:
            m.skip(f"training.{key}", "unknown training setting")
    if scheduler is None:
        for key in schedule_keys:
            m.skip(f"training.{key}", "no scheduler given")
        return
    kind = str(scheduler)
    option = SCHEDULERS.get(kind)
    if option is None:
        supported = ", ".join(SCHEDULERS)
        m.skip("training.scheduler", f"{kind!r} is not supported ({supported})")
        for key in schedule_keys:
            m.skip(f"training.{key}", f"belongs to the unsupported {kind!r} scheduler")
        return
    m.defaults["scheduler"] = _choice("scheduler", option)
    m.mapped["training.scheduler"] = f"scheduler={option}"
    params = _parameters("scheduler", option, "scheduler")

    def schedule(name: str, value: Any, old: str) -> None:
        _set_parameter(m, "scheduler", option, "scheduler", name, value, old)

    if "warmup_epochs" in params:
        # a plain cosine schedule is the warm-up one without warm-up
        warmup = schedule_keys.get("warmup_epochs", 0 if kind == "cosine" else None)
        if warmup is not None:
            schedule("warmup_epochs", int(warmup), "training.warmup_epochs")
    elif "warmup_epochs" in schedule_keys:
        m.skip("training.warmup_epochs", f"not used by the {option} scheduler")
    if "cosine_t_max" in schedule_keys:
        if "max_epochs" in params:
            schedule("max_epochs", int(schedule_keys["cosine_t_max"]), "training.cosine_t_max")
        else:
            m.skip("training.cosine_t_max", f"not used by the {option} scheduler")
    if "min_lr" in schedule_keys:
        lr = training.get("learning_rate")
        if "min_lr" in params:
            schedule("min_lr", schedule_keys["min_lr"], "training.min_lr")
        elif "min_lr_ratio" not in params:
            m.skip("training.min_lr", f"not used by the {option} scheduler")
        elif lr:
            schedule(
                "min_lr_ratio",
                round(float(schedule_keys["min_lr"]) / float(lr), 6),
                "training.min_lr",
            )
        else:
            m.skip("training.min_lr", "needs training.learning_rate to become min_lr_ratio")


def _monitoring(config: Mapping[str, Any], m: Migration) -> None:
    section = _section(config, "emergency_monitoring", m)
    if section.get("enabled", True) is False:
        m.set(f"callbacks.{MONITOR_CALLBACK}", None, "emergency_monitoring.enabled")
        for key in section:
            if key != "enabled":
                m.skip(f"emergency_monitoring.{key}", "monitoring is disabled")
        return
    for key, value in section.items():
        old = f"emergency_monitoring.{key}"
        if key == "enabled":
            m.mapped[old] = f"callbacks.{MONITOR_CALLBACK}"
        elif key in MONITORING:
            name = MONITORING[key]
            _set_parameter(m, "callbacks", MONITOR_CALLBACK, MONITOR_CALLBACK, name, value, old)
        elif key in ("max_confidence", "max_confidence_threshold", "confidence_threshold"):
            if float(value) == CONFIDENCE_LEVEL:
                m.mapped[old] = "callbacks.anti_collapse.overconfident_key (val/conf_over_95)"
            else:
                m.skip(old, f"lyricseg counts over-confidence at {CONFIDENCE_LEVEL} only")
        else:
            m.skip(old, "unknown monitoring threshold")


def _auto_candidates() -> tuple[str, ...]:
    """The candidates ``conf/calibration/auto.yaml`` composes, by name."""
    return tuple(_packaged("calibration", "auto")["candidates"])


def _calibration(config: Mapping[str, Any], m: Migration) -> None:
    section = _section(config, "calibration", m)
    if not section:
        return
    if section.get("enabled", True) is False:
        m.defaults["calibration"] = _choice("calibration", "none")
        m.mapped["calibration.enabled"] = "calibration=none"
        return
    for key, value in section.items():
        old = f"calibration.{key}"
        if key == "enabled":
            m.mapped[old] = "calibration"
        elif key == "methods":
            methods = [value] if isinstance(value, str) else list(value or [])
            known = [CALIBRATORS[x] for x in methods if x in CALIBRATORS]
            for method in methods:
                if method not in CALIBRATORS:
                    m.skip(f"{old}.{method}", "unknown calibration method")
            if len(known) == 1:
                m.defaults["calibration"] = _choice("calibration", known[0])
                m.mapped[old] = f"calibration={known[0]}"
            elif known:
                m.defaults["calibration"] = _choice("calibration", "auto")
                m.mapped[old] = "calibration=auto"
                for name in _auto_candidates():
                    if name not in known:
                        m.set(f"calibration.candidates.{name}", None)
                for name in known:
                    if name not in _auto_candidates():
                        m.skip(f"{old}.{name}", "not a candidate of calibration=auto")
        else:
            m.skip(old, "unknown calibration setting")


def _validation(config: Mapping[str, Any], m: Migration) -> None:
    value = config.get("validation_strategy")
    if value is None:
        return
    old = "validation_strategy"
    if isinstance(value, Mapping):
        rest = dict(value)
        for key in ("primary_metric", "metric", "monitor"):
            if key in rest:
                old = f"validation_strategy.{key}"
                value = rest.pop(key)
                break
        else:
            m.skip("validation_strategy", "no primary_metric/metric/monitor key")
            return
        for key in rest:
            m.skip(f"validation_strategy.{key}", "unknown validation setting")
    name = str(value).lower()
    if name not in MONITORS:
        m.skip(old, f"{value!r} has no single lyricseg metric; kept monitor=val/boundary_f1")
        return
    monitor, mode = MONITORS[name]
    m.set("monitor", monitor, old)
    m.set("monitor_mode", mode)


def _features(config: Mapping[str, Any], m: Migration) -> None:
    section = _section(config, "features", m)
    if not section:
        return
    # Start from the cheap views of BASE_FEATURES and add each enabled old block, so that
    # disabled blocks really are absent (an experiment file cannot delete a view).
    base = _packaged("features", BASE_FEATURES)
    full = _packaged("features", FULL_FEATURES)
    m.defaults["features"] = _choice("features", BASE_FEATURES)
    block_views = list(base["block_views"])
    for block, settings in section.items():
        settings = dict(settings) if isinstance(settings, Mapping) else {"enabled": bool(settings)}
        enabled = settings.get("enabled", True)
        view, params = FEATURE_VIEWS.get(block, (None, {}))
        if view not in full["views"]:
            if enabled:
                m.skip(f"features.{block}", "no equivalent view in lyricseg")
            continue
        if not enabled:
            if view in base["views"]:
                role = " (context view)" if view == base["context_view"] else ""
                m.skip(f"features.{block}.enabled", f"the {view} view is always on{role}")
            else:
                m.mapped[f"features.{block}.enabled"] = f"features.views.{view} (left out)"
            continue
        target = full["views"][view]["_target_"]
        node = m.get(f"features.views.{view}") or {"_target_": target}
        m.set(f"features.views.{view}", node)
        m.mapped[f"features.{block}"] = f"features.views.{view}"
        for key, value in settings.items():
            old = f"features.{block}.{key}"
            if params.get(key) in _parameters_of(target):
                m.set(f"features.views.{view}.{params[key]}", value, old)
            elif key not in FEATURE_IGNORED:
                m.skip(old, f"no such parameter of the {view} view")
        if view in full["block_views"] and view not in block_views:
            block_views.append(view)
    m.set("features.block_views", block_views)


def convert(config: Mapping[str, Any], source: str | os.PathLike[str] | None = None) -> Migration:
    """Convert an earlier-format config (already parsed) into a :class:`Migration`.

    Args:
        config: The old config as a mapping of its sections.
        source: Its file, named in the output header.
    """
    if not isinstance(config, Mapping):
        raise LyricsegError("an earlier-format config is a mapping of sections")
    m = Migration(source=Path(source) if source is not None else None)
    _loss(config, m)
    _data(config, m)
    _model(config, m)
    _training(config, m)
    _monitoring(config, m)
    _calibration(config, m)
    _validation(config, m)
    _features(config, m)
    for key in config:
        if key not in SECTIONS:
            if key == "seed":
                m.set("seed", config[key], "seed")
            else:
                m.skip(str(key), "unknown section")
    return m


def convert_file(path: str | os.PathLike[str]) -> Migration:
    """Read and convert an earlier-format YAML file."""
    path = Path(path)
    if not path.is_file():
        raise LyricsegError(f"{path} does not exist")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise LyricsegError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(loaded, Mapping):
        raise LyricsegError(f"{path}: expected a mapping of config sections")
    return convert(loaded, source=path)
