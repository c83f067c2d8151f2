"""Tag songs from a checkout, with its ``conf/``: ``python predict.py ckpt=... input=...``.

The same command as ``lyricseg-predict`` (see :mod:`lyricseg.cli` and conf/predict.yaml).
"""

from pathlib import Path

from lyricseg.cli import hydra_main, run_predict

main = hydra_main(run_predict, "predict", config_dir=Path(__file__).resolve().parent / "conf")

if __name__ == "__main__":
    main()
