"""``lyricseg-predict SONG|input=PATH [overrides]``: tag songs (conf/predict.yaml).

The root ``predict.py`` of a checkout builds the same command on its ``conf/`` folder. The
task is imported when called, so that the command loads no training code (Lightning,
torchmetrics).
"""

from __future__ import annotations

from omegaconf import DictConfig

from lyricseg.commands._hydra import hydra_main


def run_predict(cfg: DictConfig) -> None:
    """Predict labels and P(chorus) for every line of the input songs."""
    # Lazy: torch and the model load when called, not for --help (tests/packaging/test_cli.py).
    from lyricseg.predict import run

    run(cfg)


#: ``lyricseg-predict``, on the packaged config.
main = hydra_main(run_predict, "predict")

if __name__ == "__main__":
    main()
