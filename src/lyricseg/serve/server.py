"""The service's socket and uvicorn server: bound before the model loads, saying where it listens.

:mod:`lyricseg.commands.serve` (``lyricseg-serve``) runs the app on them.
"""

from __future__ import annotations

import errno
import socket

import uvicorn
from omegaconf import DictConfig

from lyricseg.utils.errors import LyricsegError
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


def serve(app: object, sock: socket.socket, cfg: DictConfig) -> None:
    """Serve ``app`` with uvicorn on the bound ``sock`` until interrupted."""
    server = _Server(uvicorn.Config(app, **server_settings(cfg)))
    with sock:
        server.run(sockets=[sock])
