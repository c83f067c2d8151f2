"""User-facing errors.

A :class:`LyricsegError` is a problem with the user's input or configuration. Entry points
catch it and print one clear line instead of a traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class LyricsegError(Exception):
    """An error caused by user input or configuration, reported without a traceback."""


def report_user_error(err: BaseException) -> None:
    """Show a user error once: one ``error: ...`` line on stderr, and the run's log files.

    Console log handlers are skipped, so the message is not printed twice.
    """
    logger = logging.getLogger("lyricseg")
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, "%s", (err,), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
    print(f"error: {err}", file=sys.stderr)


def exit_on_user_error(fn: F) -> F:
    """Turn a :class:`LyricsegError` raised by ``fn`` into one error line and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LyricsegError as err:
            report_user_error(err)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
