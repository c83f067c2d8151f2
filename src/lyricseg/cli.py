"""Console commands ``lyricseg-train`` and ``lyricseg-predict`` (Hydra mains).

The commands compose the config shipped in the package, :data:`PACKAGED_CONFIG`: the
repository's top-level ``conf/``, linked as ``src/lyricseg/conf`` and copied into the wheel.
The root ``train.py`` and ``predict.py`` of a checkout build the same mains on its ``conf/``
folder. ``lyricseg-serve`` is :func:`lyricseg.serve.__main__.main`.

The tasks import their modules when called, so that ``lyricseg-predict`` loads no training
code (Lightning, torchmetrics).
"""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from lyricseg.utils.resolvers import register_resolvers

#: The Hydra config shipped in the package (a folder: pip installs wheels unpacked).
PACKAGED_CONFIG = Path(__file__).parent / "conf"


def launcher_parallelism(launcher: DictConfig | None) -> int:
    """How many jobs a Hydra launcher runs at once: the Optuna sweeper's trials per batch.

    Args:
        launcher: The ``hydra.launcher`` config.

    Returns:
        joblib's ``n_jobs`` counted as joblib counts it (``-1``: every CPU, ``-2``: all but
        one, unset: 1), submitit's ``array_parallelism``, else 1 (the basic launcher runs
        jobs one after another).
    """
    if launcher is None:
        return 1
    if "n_jobs" in launcher:
        from joblib import effective_n_jobs

        return int(effective_n_jobs(launcher.n_jobs))
    if launcher.get("array_parallelism") is not None:
        return max(int(launcher.array_parallelism), 1)
    return 1


def _register_resolvers() -> None:
    register_resolvers()
    if not OmegaConf.has_resolver("lyricseg.launcher_parallelism"):
        OmegaConf.register_new_resolver("lyricseg.launcher_parallelism", launcher_parallelism)


def run_train(cfg: DictConfig) -> float | None:
    """Train; returns the monitored metric's best value (what sweepers optimize)."""
    from lyricseg.train import run

    return run(cfg)


def run_predict(cfg: DictConfig) -> None:
    """Predict labels and P(chorus) for every line of the input songs."""
    from lyricseg.predict import run

    run(cfg)


def hydra_main(
    task: Callable[[DictConfig], Any],
    config_name: str,
    config_dir: str | PathLike[str] = PACKAGED_CONFIG,
) -> Callable[[], Any]:
    """A Hydra main running ``task`` on ``config_name`` from ``config_dir``.

    Args:
        task: The task function, called with the composed config.
        config_name: Primary config file (``train``, ``predict``).
        config_dir: The config folder (default: the packaged config).
    """
    _register_resolvers()
    config_path = str(Path(config_dir).absolute())
    return hydra.main(version_base="1.3", config_path=config_path, config_name=config_name)(task)


train = hydra_main(run_train, "train")
predict = hydra_main(run_predict, "predict")
