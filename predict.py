"""Tag the lines of songs with a trained checkpoint: ``python predict.py ckpt=... input=...``."""

import hydra
from omegaconf import DictConfig

from lyricseg.predict import run


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    """Predict labels and P(chorus) for every line of the input songs."""
    run(cfg)


if __name__ == "__main__":
    main()
