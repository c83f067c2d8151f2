"""Train from a checkout, with its ``conf/``: ``python train.py [overrides]``.

The same command as ``lyricseg-train`` (see :mod:`lyricseg.cli` and conf/train.yaml).
"""

from pathlib import Path

from lyricseg.cli import check_resume_path, hydra_main, run_train

main = hydra_main(
    run_train,
    "train",
    config_dir=Path(__file__).resolve().parent / "conf",
    before=check_resume_path,
)

if __name__ == "__main__":
    main()
