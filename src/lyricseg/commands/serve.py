"""``lyricseg-serve [ckpt=PATH] [host=127.0.0.1] [port=8000]``: serve the model over HTTP.

Settings and their defaults are in ``conf/serve.yaml``; any of them is a Hydra override.
``python -m lyricseg.serve`` is the same command.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lyricseg.commands._hydra import hydra_main
from lyricseg.utils.errors import LyricsegError, exit_on_user_error
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)


@exit_on_user_error
def run(cfg: DictConfig) -> None:
    """Load the model once, then serve it with uvicorn until interrupted."""
    # Lazy: torch and the model load when called, not for --help (tests/packaging/test_cli.py).
    import torch

    from lyricseg.inference import Predictor, model_path
    from lyricseg.serve.app import create_app, is_loopback_address
    from lyricseg.serve.server import listen, serve

    if not isinstance(cfg.port, int) or not 0 <= cfg.port <= 65535:
        raise LyricsegError(f"port must be a number from 0 to 65535, got {cfg.port!r}")
    if not isinstance(cfg.max_connections, int) or cfg.max_connections < 1:
        raise LyricsegError(
            f"max_connections must be a positive integer, got {cfg.max_connections!r}"
        )
    sock = listen(cfg.host, cfg.port)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    path = model_path(cfg.ckpt)
    predictor = Predictor.from_checkpoint(path, max_lines=cfg.max_lines, convention=cfg.convention)
    app = create_app(
        predictor,
        checkpoint=Path(path).name,
        max_body_bytes=cfg.max_body_bytes,
        max_lines=cfg.max_lines,
        max_songs=cfg.max_songs,
        max_request_lines=cfg.max_request_lines,
        batch_size=cfg.batch_size,
        max_batch_lines=cfg.max_batch_lines,
        batch_wait_ms=cfg.batch_wait_ms,
        workers=cfg.workers,
        torch_threads=cfg.torch_threads,
        body_timeout_s=cfg.body_timeout_s,
        host=cfg.host,
    )
    if not is_loopback_address(cfg.host):
        log.warning("Listening on %s: other machines can reach this service", cfg.host)
    log.info("Serving %s (the address follows once the model is ready)", path)
    serve(app, sock, cfg)


#: ``lyricseg-serve``: serve segmentation over HTTP with a page at ``/`` (packaged config).
main = hydra_main(run, "serve")

if __name__ == "__main__":
    main()
