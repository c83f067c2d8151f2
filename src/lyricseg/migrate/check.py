"""Compose a converted experiment with ``train.yaml`` to check that it is a valid config."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from lyricseg.utils import LyricsegError, get_logger
from lyricseg.utils.config import PACKAGED_CONFIG

log = get_logger(__name__)


def default_config_dir() -> Path:
    """The Hydra config shipped with lyricseg (the one the ``lyricseg-*`` commands use)."""
    if not (PACKAGED_CONFIG / "train.yaml").is_file():
        raise LyricsegError(f"no train.yaml in {PACKAGED_CONFIG}; pass --config-dir")
    return PACKAGED_CONFIG


def compose_experiment(
    text: str,
    name: str = "migrated",
    config_dir: str | os.PathLike[str] | None = None,
    overrides: list[str] | None = None,
):
    """Compose ``train.yaml`` with the experiment ``text`` and build its loss.

    The experiment is placed in a temporary search-path folder, so the check works before the
    file is saved under ``conf/experiment/``.

    Args:
        text: The experiment YAML.
        name: Its name in the ``experiment`` group.
        config_dir: The lyricseg config folder (default: :func:`default_config_dir`).
        overrides: Extra overrides (e.g. ``data.data_dir=...``).

    Returns:
        The composed config (``DictConfig``), every interpolation resolvable.

    Raises:
        Exception: Whatever Hydra, OmegaConf or the loss raise for an invalid result.
    """
    conf = Path(config_dir) if config_dir is not None else default_config_dir()
    extra = list(overrides or [])
    given = {o.split("=", 1)[0].lstrip("+") for o in extra}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "experiment").mkdir()
        (Path(tmp) / "experiment" / f"{name}.yaml").write_text(text, encoding="utf-8")
        base = [f"hydra.searchpath=[file://{tmp}]", f"experiment={name}"]
        # Outside a Hydra run the paths have no runtime folder to default to; the root is the
        # directory the command starts from, as in a run.
        if "paths.root_dir" not in given:
            base.append(f"paths.root_dir={Path.cwd()}")
        output_dir = f"{tmp}/run"
        for override in extra:
            if override.lstrip("+").startswith("paths.output_dir="):
                output_dir = override.split("=", 1)[1]
        with initialize_config_dir(config_dir=str(conf.resolve()), version_base="1.3"):
            cfg = compose(config_name="train", overrides=[*base, *extra])
        with open_dict(cfg):
            cfg.paths.output_dir = output_dir
        OmegaConf.to_container(cfg, resolve=True)
        instantiate(cfg.loss)
        instantiate(cfg.features)
    return cfg
