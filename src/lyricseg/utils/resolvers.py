"""OmegaConf resolvers that lyricseg's configs use (registered once, on import of a task)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf


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


def register_resolvers() -> None:
    """Register lyricseg's resolvers (idempotent)."""
    if not OmegaConf.has_resolver("lyricseg.resume_dir"):
        OmegaConf.register_new_resolver("lyricseg.resume_dir", resume_run_dir)
