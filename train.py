"""Train from a checkout, with its ``conf/``: ``python train.py [overrides]``.

The same command as ``lyricseg-train`` (see :mod:`lyricseg.commands.train` and conf/train.yaml).
"""

from pathlib import Path

from lyricseg.commands._hydra import hydra_main
from lyricseg.commands.train import check_resume_path, run_train

main = hydra_main(
    run_train,
    "train",
    config_dir=Path(__file__).resolve().parent / "conf",
    before=check_resume_path,
)

if __name__ == "__main__":
    main()
