"""Console commands ``lyricseg-train`` and ``lyricseg-predict`` (Hydra mains).

The commands compose the config shipped in the package, :data:`PACKAGED_CONFIG`: the
repository's top-level ``conf/``, linked as ``src/lyricseg/conf`` and copied into the wheel.
The root ``train.py`` and ``predict.py`` of a checkout build the same mains on its ``conf/``
folder. ``lyricseg-serve`` is :func:`lyricseg.serve.__main__.main`.

The tasks import their modules when called, so that ``lyricseg-predict`` loads no training
code (Lightning, torchmetrics).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from lyricseg.utils.errors import exit_on_user_error
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


def check_resume_path(config_dir: str, config_name: str) -> None:
    """Refuse a bad ``ckpt_path=`` before Hydra creates or, resuming, reuses a run folder.

    Hydra writes ``.hydra/`` and opens the log in the run folder that ``ckpt_path`` names
    before the task runs, so a mistyped path would rewrite the old run's config. The command's
    overrides are composed here as Hydra will compose them, and the path is checked by
    :func:`lyricseg.checkpoint.check_resume` (one error line, exit status 2). Whatever cannot
    be composed is left to Hydra to report; a multirun's jobs each get a new folder.
    """
    from hydra import compose, initialize_config_dir
    from hydra._internal.utils import get_args_parser

    try:
        args, _ = get_args_parser().parse_known_args()
    except SystemExit:
        return
    special = (args.help, args.hydra_help, args.cfg, args.info, args.shell_completion)
    other_config = (args.config_path, args.config_dir, args.experimental_rerun)
    if args.multirun or any(special) or any(other_config):
        return
    if not any("ckpt_path" in override for override in args.overrides):
        return
    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            cfg = compose(args.config_name or config_name, overrides=args.overrides)
        path = cfg.get("ckpt_path")
        net = OmegaConf.to_container(cfg.model.net, resolve=True)
        features = OmegaConf.to_container(cfg.features, resolve=True)
    except Exception:  # Hydra reports a config it cannot compose, in its own words
        return
    if path:
        from lyricseg.checkpoint import check_resume

        exit_on_user_error(check_resume)(path, net, features)


def run_predict(cfg: DictConfig) -> None:
    """Predict labels and P(chorus) for every line of the input songs."""
    from lyricseg.predict import run

    run(cfg)


def hydra_main(
    task: Callable[[DictConfig], Any],
    config_name: str,
    config_dir: str | PathLike[str] = PACKAGED_CONFIG,
    before: Callable[[str, str], None] | None = None,
) -> Callable[[], Any]:
    """A Hydra main running ``task`` on ``config_name`` from ``config_dir``.

    Args:
        task: The task function, called with the composed config.
        config_name: Primary config file (``train``, ``predict``).
        config_dir: The config folder (default: the packaged config).
        before: Called with the config folder and name before Hydra starts (and creates a
            run folder), e.g. :func:`check_resume_path`.
    """
    _register_resolvers()
    config_path = str(Path(config_dir).absolute())
    main = hydra.main(version_base="1.3", config_path=config_path, config_name=config_name)(task)
    if before is None:
        return main

    @functools.wraps(main)
    def checked() -> Any:
        before(config_path, config_name)
        return main()

    return checked


train = hydra_main(run_train, "train", before=check_resume_path)
predict = hydra_main(run_predict, "predict")
