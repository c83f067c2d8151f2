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


def exit_on_user_error(fn: F) -> F:
    """Turn a :class:`LyricsegError` raised by ``fn`` into one log line and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LyricsegError as err:
            logging.getLogger("lyricseg").error("%s", err)
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
