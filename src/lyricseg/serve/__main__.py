"""``python -m lyricseg.serve [ckpt=PATH] [host=127.0.0.1] [port=8000]``: serve the model.

Settings and their defaults are in ``conf/serve.yaml``; any of them is a Hydra override.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lyricseg.cli import hydra_main
from lyricseg.utils.errors import LyricsegError, exit_on_user_error
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)

#: Host names that keep the service on this machine.
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@exit_on_user_error
def run(cfg: DictConfig) -> None:
    """Load the model once, then serve it with uvicorn until interrupted."""
    import torch
    import uvicorn

    from lyricseg import checkpoint
    from lyricseg.predict import Predictor
    from lyricseg.serve.app import create_app

    if not isinstance(cfg.port, int) or not 0 <= cfg.port <= 65535:
        raise LyricsegError(f"port must be a number from 0 to 65535, got {cfg.port!r}")
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    path = Path(cfg.ckpt) if cfg.ckpt else checkpoint.pretrained_path()
    predictor = Predictor.from_checkpoint(path, max_lines=cfg.max_lines)
    app = create_app(
        predictor,
        checkpoint=path.name,
        max_body_bytes=cfg.max_body_bytes,
        max_lines=cfg.max_lines,
        max_songs=cfg.max_songs,
        batch_size=cfg.batch_size,
    )
    if cfg.host not in LOOPBACK:
        log.warning("Listening on %s: other machines can reach this service", cfg.host)
    log.info("Serving %s (uvicorn reports the address once the model is ready)", path)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_config=None, access_log=cfg.access_log)


#: ``lyricseg-serve``: serve segmentation over HTTP with a page at ``/`` (packaged config).
main = hydra_main(run, "serve")


if __name__ == "__main__":
    main()
