"""Train a verse/chorus tagger: ``python train.py [overrides]`` (see conf/train.yaml)."""

import hydra
from omegaconf import DictConfig

from lyricseg.train import run


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Train and return the monitored metric's best value (optimized by sweepers)."""
    return run(cfg)


if __name__ == "__main__":
    main()
