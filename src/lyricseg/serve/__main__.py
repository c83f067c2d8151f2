"""``python -m lyricseg.serve [ckpt=PATH] [host=127.0.0.1] [port=8000]``: serve the model.

Settings and their defaults are in ``conf/serve.yaml``; any of them is a Hydra override.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import uvicorn
from omegaconf import DictConfig

from lyricseg.cli import hydra_main
from lyricseg.utils.errors import LyricsegError, exit_on_user_error
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, taken before anything slow (the model) is loaded.

    Raises:
        LyricsegError: When the port is taken or the address cannot be used.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as err:
        raise LyricsegError(f"cannot listen on host={host}: {err.strerror}") from None
    # proto=IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections.
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind(address)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise LyricsegError(
                f"port {port} on {host} is already in use (another server?); "
                "choose another with port=N"
            ) from None
        raise LyricsegError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    return sock


def server_settings(cfg: DictConfig) -> dict[str, object]:
    """The settings of uvicorn's server from the service's config (app and socket aside)."""
    return {
        "log_config": None,
        "access_log": cfg.access_log,
        # uvicorn answers 503 once its open connections reach limit_concurrency, counting
        # the connection asking: max_connections connections are served, one more is not.
        "limit_concurrency": cfg.max_connections + 1,
        "timeout_keep_alive": cfg.keep_alive_s,
    }


def url(sock: socket.socket) -> str:
    """The base URL of a listening socket (an IPv6 address in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server, saying where it listens once it answers.

    uvicorn says nothing about sockets it is given.
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            log.info("Listening on %s (Ctrl+C stops)", url(sockets[0]))


@exit_on_user_error
def run(cfg: DictConfig) -> None:
    """Load the model once, then serve it with uvicorn until interrupted."""
    import torch

    from lyricseg.inference import Predictor, model_path
    from lyricseg.serve.app import create_app, is_loopback_address

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
    predictor = Predictor.from_checkpoint(path, max_lines=cfg.max_lines)
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
    server = _Server(uvicorn.Config(app, **server_settings(cfg)))
    with sock:
        server.run(sockets=[sock])


#: ``lyricseg-serve``: serve segmentation over HTTP with a page at ``/`` (packaged config).
main = hydra_main(run, "serve")


if __name__ == "__main__":
    main()
