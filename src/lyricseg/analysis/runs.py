"""Find training runs below a folder and load their logged metrics per epoch.

A run folder is what ``python train.py`` writes (``logs/train/runs/<time>/``, or
``<sweep dir>/<n>/`` for a multirun): ``.hydra/{config,overrides}.yaml``, ``csv/metrics.csv``,
``tensorboard/events.out.tfevents.*``, ``summary.json`` and ``calibration.json``. Any of them
may be missing (a crashed trial has only ``.hydra/``); loading never fails on that.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lyricseg.utils import LyricsegError, get_logger

log = get_logger(__name__)

#: Folders never searched for runs (outputs of this package, checkpoints, cluster logs).
SKIP_DIRS = {"analysis", "checkpoints", ".submitit", "predictions", "__pycache__", ".git"}

#: Where a run's metrics are read from: ``auto`` prefers the CSV log and falls back to
#: TensorBoard event files.
SOURCES = ("auto", "csv", "tensorboard")


def _natural_key(path: Path) -> list[Any]:
    """Sort ``2`` before ``10`` in sweep folders."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(path))]


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds the outputs of one training run."""
    if (path / ".hydra" / "overrides.yaml").is_file() or (
        path / ".hydra" / "config.yaml"
    ).is_file():
        return True
    if (path / "csv" / "metrics.csv").is_file():
        return True
    if (path / "summary.json").is_file():
        return True
    board = path / "tensorboard"
    return board.is_dir() and any(board.glob("events.out.tfevents.*"))


def find_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Every run folder at or below ``root`` (a run folder, a sweep folder, ``logs/``...).

    The search does not descend into a run folder, nor into :data:`SKIP_DIRS`.

    Returns:
        Run folders in natural order (``.../2`` before ``.../10``).
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for current, dirs, _ in os.walk(root):
        here = Path(current)
        if is_run_dir(here):
            found.append(here)
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
    return sorted(found, key=_natural_key)


def _as_float(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _epoch_for_step(steps: list[int], epochs: list[int], step: int) -> int | None:
    """Epoch of a value logged at ``step`` without an epoch (e.g. the learning rate).

    ``steps``/``epochs`` come from rows that carry both, sorted by step; a row belongs to the
    first epoch whose logging step is at or after it.
    """
    if not steps:
        return None
    index = bisect.bisect_left(steps, step)
    return epochs[min(index, len(epochs) - 1)]


def _put(history: dict[str, dict[int, float]], key: str, epoch: int, value: float) -> None:
    # The last value logged for an epoch wins (epoch-end aggregates come last).
    history.setdefault(key, {})[epoch] = value


def read_csv_metrics(path: Path) -> dict[str, dict[int, float]]:
    """Per-epoch values of every metric in a Lightning ``metrics.csv``.

    Returns:
        ``{metric: {epoch: value}}``; rows without an epoch are placed by their step.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    anchors = sorted(
        {
            (int(float(r["step"])), int(float(r["epoch"])))
            for r in rows
            if _as_float(r.get("epoch")) is not None and _as_float(r.get("step")) is not None
        }
    )
    steps = [s for s, _ in anchors]
    epochs = [e for _, e in anchors]
    history: dict[str, dict[int, float]] = {}
    for row in rows:
        epoch_value = _as_float(row.get("epoch"))
        if epoch_value is not None:
            epoch: int | None = int(epoch_value)
        else:
            step = _as_float(row.get("step"))
            epoch = None if step is None else _epoch_for_step(steps, epochs, int(step))
        if epoch is None:
            continue
        for key, text in row.items():
            if key in ("epoch", "step") or key is None:
                continue
            value = _as_float(text)
            if value is not None:
                _put(history, key, epoch, value)
    return history


def read_tensorboard_metrics(
    folder: Path,
) -> tuple[dict[str, dict[int, float]], tuple[float, float] | None]:
    """Per-epoch scalars of the TensorBoard event files in ``folder``.

    Returns:
        ``({metric: {epoch: value}}, (first, last) event wall time or None)``. Epochs come from
        the ``epoch`` scalar Lightning logs with every metric.
    """
    # Lazy: TensorBoard's reader slows the start-up of every analysis, which CSV logs and
    # ``--help`` do without (tests/packaging/test_cli.py).
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    history: dict[str, dict[int, float]] = {}
    times: list[float] = []
    for event_file in sorted(folder.glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(event_file), size_guidance={"scalars": 0})
        accumulator.Reload()
        tags = accumulator.Tags().get("scalars", [])
        anchors = sorted(
            {(e.step, int(e.value)) for e in accumulator.Scalars("epoch")}
            if "epoch" in tags
            else set()
        )
        steps = [s for s, _ in anchors]
        epochs = [e for _, e in anchors]
        for tag in tags:
            if tag == "epoch":
                continue
            for event in accumulator.Scalars(tag):
                times.append(event.wall_time)
                epoch = _epoch_for_step(steps, epochs, event.step) if steps else event.step
                if epoch is not None and math.isfinite(event.value):
                    _put(history, tag, epoch, float(event.value))
    span = (min(times), max(times)) if times else None
    return history, span


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:  # also invalid UTF-8, deep nesting
        log.warning("Ignoring unreadable %s: %s", path, err)
        return None


@dataclass
class RunData:
    """What one run logged, by epoch.

    Attributes:
        path: The run folder.
        name: Short label (path relative to the analysed folder).
        overrides: Command-line overrides of the run (``.hydra/overrides.yaml``).
        config: The run's composed config (unresolved), or None without ``.hydra/``.
        summary: ``summary.json`` written at the end of training, or None.
        calibration: ``calibration.json``, or None.
        history: ``{metric: {epoch: value}}``.
        wall_time_s: Featurization + fit seconds (summary), else the span of the event times.
        source: Where the history came from: ``csv``, ``tensorboard`` or ``none``.
    """

    path: Path
    name: str
    overrides: list[str] = field(default_factory=list)
    config: DictConfig | None = None
    summary: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    history: dict[str, dict[int, float]] = field(default_factory=dict)
    wall_time_s: float | None = None
    source: str = "none"

    @property
    def has_metrics(self) -> bool:
        """Whether any metric was logged."""
        return bool(self.history)

    def select(self, key: str, default: Any = None) -> Any:
        """A config value (resolved when possible), or ``default``."""
        if self.config is None:
            return default
        try:
            value = OmegaConf.select(self.config, key, default=default)
        except Exception:  # an interpolation that needs Hydra's runtime
            return default
        if OmegaConf.is_config(value):
            return OmegaConf.to_container(value, resolve=False)
        return value

    @property
    def monitor(self) -> str:
        """The metric that picked the run's best epoch."""
        if self.summary and self.summary.get("monitor"):
            return str(self.summary["monitor"])
        return str(self.select("monitor", "val/boundary_f1"))

    @property
    def monitor_mode(self) -> str:
        """``max`` or ``min``."""
        return str(self.select("monitor_mode", "max"))

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """``(epochs, values)`` of a metric, sorted by epoch (empty when never logged)."""
        values = self.history.get(key, {})
        epochs = sorted(values)
        return epochs, [values[e] for e in epochs]

    def final(self, key: str) -> float | None:
        """The metric at the last epoch it was logged."""
        epochs, values = self.series(key)
        return values[-1] if values else None

    def at(self, key: str, epoch: int | None) -> float | None:
        """The metric at ``epoch`` (None when not logged then)."""
        if epoch is None:
            return None
        return self.history.get(key, {}).get(epoch)

    def best(self, key: str, mode: str = "max") -> float | None:
        """Best value of a metric over epochs."""
        _, values = self.series(key)
        if not values:
            return None
        return max(values) if mode == "max" else min(values)

    @property
    def best_epoch(self) -> int | None:
        """The epoch the best checkpoint comes from (best ``monitor``)."""
        epochs, values = self.series(self.monitor)
        if not values:
            return None
        pick = max if self.monitor_mode == "max" else min
        target = pick(values)
        return epochs[values.index(target)]

    @property
    def last_epoch(self) -> int | None:
        """The last epoch with a validation metric."""
        epochs = sorted({e for k, v in self.history.items() if k.startswith("val/") for e in v})
        return epochs[-1] if epochs else None

    @property
    def n_epochs(self) -> int | None:
        """Epochs validated (or, without metrics, the count in ``summary.json``)."""
        epochs = {e for k, v in self.history.items() if k.startswith("val/") for e in v}
        if epochs:
            return len(epochs)
        if self.summary and self.summary.get("epochs") is not None:
            return int(self.summary["epochs"])
        return None


def load_run(
    path: str | os.PathLike[str], name: str | None = None, source: str = "auto"
) -> RunData:
    """Read one run folder.

    Args:
        path: The run folder.
        name: Label for tables and plots (default: the folder name).
        source: ``auto`` (CSV log, else TensorBoard), ``csv`` or ``tensorboard``.
    """
    if source not in SOURCES:
        raise LyricsegError(f"source must be one of {SOURCES}, got {source!r}")
    path = Path(path)
    run = RunData(path=path, name=name or path.name)
    hydra_dir = path / ".hydra"
    if (hydra_dir / "config.yaml").is_file():
        run.config = OmegaConf.load(hydra_dir / "config.yaml")
    if (hydra_dir / "overrides.yaml").is_file():
        loaded = OmegaConf.load(hydra_dir / "overrides.yaml")
        run.overrides = [str(o) for o in loaded] if OmegaConf.is_list(loaded) else []
    run.summary = _read_json(path / "summary.json")
    run.calibration = _read_json(path / "calibration.json")

    csv_file = path / "csv" / "metrics.csv"
    board = path / "tensorboard"
    span = None
    if source in ("auto", "csv") and csv_file.is_file():
        run.history = read_csv_metrics(csv_file)
        run.source = "csv"
    if (source == "tensorboard" or (source == "auto" and not run.history)) and board.is_dir():
        run.history, span = read_tensorboard_metrics(board)
        run.source = "tensorboard" if run.history else "none"
    elif board.is_dir() and run.summary is None:
        # Wall time of a run that ended before writing its summary.
        _, span = read_tensorboard_metrics(board)

    timings = (run.summary or {}).get("metrics", {})
    if "time/fit_s" in timings:
        run.wall_time_s = float(timings["time/fit_s"]) + float(timings.get("time/featurize_s", 0))
    elif span is not None:
        run.wall_time_s = span[1] - span[0]
    return run


def load_runs(paths: Iterable[str | os.PathLike[str]], source: str = "auto") -> list[RunData]:
    """Load every run at or below each of ``paths``.

    Run names are paths relative to the folder given (``3`` for trial 3 of a sweep; the folder
    name when a run folder itself is given).

    Raises:
        LyricsegError: When no run is found at all.
    """
    runs = []
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            raise LyricsegError(f"{root} does not exist")
        for run_dir in find_runs(root):
            relative = run_dir.relative_to(root)
            name = root.name if str(relative) == "." else str(relative)
            runs.append(load_run(run_dir, name=name, source=source))
    if not runs:
        listed = ", ".join(str(p) for p in paths)
        raise LyricsegError(
            f"no training runs found under {listed} (a run folder has .hydra/, csv/metrics.csv "
            "or tensorboard/ event files)"
        )
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        # Same relative names from different roots: fall back to full paths.
        for run in runs:
            run.name = str(run.path)
    log.info("Found %d run(s)", len(runs))
    return runs
