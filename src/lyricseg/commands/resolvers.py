"""The OmegaConf resolvers of lyricseg's Hydra configs, registered by the commands only.

Only the ``hydra`` node of the configs uses them (the run folder, a sweeper's batch size), so
library code composing a config in process needs none; a test composing with
``return_hydra_config=True`` calls :func:`register_resolvers` first.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def resume_run_dir(ckpt_path: str | None, default: str) -> str:
    """The run folder to write into: the resumed run's own when resuming, else ``default``.

    A run resumed from ``<run>/checkpoints/last.ckpt`` continues in ``<run>``, so its
    checkpoints, logs and best-model tracking stay together (Lightning only restores the best
    score when the checkpoint folder is unchanged).
    """
    if ckpt_path:
        path = Path(str(ckpt_path))
        if path.parent.name == "checkpoints":
            return str(path.parent.parent)
    return default


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
        # Lazy: joblib would cost every command's start-up (tests/packaging/test_cli.py).
        from joblib import effective_n_jobs

        return int(effective_n_jobs(launcher.n_jobs))
    if launcher.get("array_parallelism") is not None:
        return max(int(launcher.array_parallelism), 1)
    return 1


def register_resolvers() -> None:
    """Register lyricseg's resolvers (idempotent)."""
    resolvers = {
        "lyricseg.resume_dir": resume_run_dir,
        "lyricseg.launcher_parallelism": launcher_parallelism,
    }
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
