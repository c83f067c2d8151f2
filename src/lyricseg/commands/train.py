"""``lyricseg-train [overrides]``: train a model (conf/train.yaml).

The root ``train.py`` of a checkout builds the same command on its ``conf/`` folder.
"""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from omegaconf import DictConfig, OmegaConf

from lyricseg.commands._hydra import cap_thread_pools, hydra_main
from lyricseg.utils.errors import exit_on_user_error


def run_train(cfg: DictConfig) -> float | None:
    """Train; returns the monitored metric's best value (what sweepers optimize)."""
    cap_thread_pools(cfg.get("torch_threads"))
    # Lazy: Lightning loads when called, not for --help (tests/packaging/test_cli.py), and
    # after the thread pools are capped above.
    from lyricseg.training.task import run

    return run(cfg)


def check_resume_path(config_dir: str, config_name: str) -> None:
    """Refuse a bad ``ckpt_path=`` before Hydra creates or, resuming, reuses a run folder.

    Hydra writes ``.hydra/`` and opens the log in the run folder that ``ckpt_path`` names
    before the task runs, so a mistyped path would rewrite the old run's config. The command's
    overrides are composed here as Hydra will compose them, and the path is checked by
    :func:`lyricseg.checkpoint.check_resume` (one error line, exit status 2). Whatever cannot
    be composed is left to Hydra to report; a multirun's jobs each get a new folder.
    """
    try:
        args, _ = get_args_parser().parse_known_args()
    except SystemExit:
        return
    special = (args.help, args.hydra_help, args.cfg, args.info, args.shell_completion)
    other_config = (args.config_path, args.config_dir, args.experimental_rerun)
    if args.multirun or any(special) or any(other_config):
        return
    if not any("ckpt_path" in override for override in args.overrides):
        return
    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            cfg = compose(args.config_name or config_name, overrides=args.overrides)
        path = cfg.get("ckpt_path")
        net = OmegaConf.to_container(cfg.model.net, resolve=True)
        features = OmegaConf.to_container(cfg.features, resolve=True)
    except Exception:  # Hydra reports a config it cannot compose, in its own words
        return
    if path:
        # Lazy: torch loads only when a ckpt_path is checked (tests/packaging/test_cli.py).
        from lyricseg.checkpoint import check_resume

        exit_on_user_error(check_resume)(path, net, features)


#: ``lyricseg-train``, on the packaged config.
main = hydra_main(run_train, "train", before=check_resume_path)

if __name__ == "__main__":
    main()
