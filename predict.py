"""Tag songs from a checkout, with its ``conf/``: ``python predict.py ckpt=... input=...``.

The same command as ``lyricseg-predict`` (see :mod:`lyricseg.commands.predict`
and conf/predict.yaml).
"""

from pathlib import Path

from lyricseg.commands._hydra import hydra_main
from lyricseg.commands.predict import run_predict

main = hydra_main(run_predict, "predict", config_dir=Path(__file__).resolve().parent / "conf")

if __name__ == "__main__":
    main()
