"""The Hydra commands' machinery: :func:`hydra_main` around a task function.

The commands compose the config shipped in the package,
:data:`~lyricseg.utils.config.PACKAGED_CONFIG`; the root ``train.py`` and ``predict.py`` of a
checkout build the same mains on its ``conf/`` folder. This is the one place that registers
the configs' resolvers (:func:`lyricseg.commands.resolvers.register_resolvers`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    OverrideParseException,
    SearchPathException,
)
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from lyricseg.commands.resolvers import register_resolvers
from lyricseg.utils.config import PACKAGED_CONFIG
from lyricseg.utils.errors import LyricsegError, report_user_error


def cap_thread_pools(threads: int | None) -> None:
    """Cap the OpenMP/BLAS thread pools at ``threads`` before numpy or torch start them.

    An environment variable set by the user wins. Spinning pool threads are what makes a
    run many times slower when another process shares the cores.
    """
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, str(threads))


#: Commands whose first bare argument (a word without ``=``) is the value of a key:
#: ``lyricseg-predict song.txt`` is ``lyricseg-predict input=song.txt``.
POSITIONAL = {"predict": "input"}
#: Hydra flags followed by a value (``-cn NAME``), whose value is no bare argument.
_FLAGS_WITH_VALUE = frozenset(
    (
        "-c",
        "--cfg",
        "-p",
        "--package",
        "-cp",
        "--config-path",
        "-cn",
        "--config-name",
        "-cd",
        "--config-dir",
        "--experimental-rerun",
    )  # fmt: skip
)
_INFO_TOPICS = frozenset(("all", "config", "defaults", "defaults-tree", "plugins", "searchpath"))


def _quote_override_value(value: str) -> str:
    """``value`` as a single-quoted Hydra override value that reads back unchanged."""
    # Hydra unescapes backslashes only before a quote or at the end of a quoted string.
    value = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, value)
    return "'" + value.replace("'", "\\'").replace("${", "\\${") + "'"


def expand_positional(args: list[str], key: str | None) -> list[str]:
    """Turn the bare argument of ``args`` into ``key=<argument>`` (paths quoted for Hydra).

    A bare argument has no ``=``, does not start with ``-`` or ``+`` (a lone ``-``, stdin,
    is bare) and is not the value of a Hydra flag such as ``-cn NAME`` or ``--info TOPIC``.

    Raises:
        LyricsegError: When there are several bare arguments, or one besides ``key=``.
    """
    if key is None:
        return list(args)
    out: list[str] = []
    bare: list[str] = []
    takes_value = False
    for i, arg in enumerate(args):
        if takes_value:
            takes_value = False
            out.append(arg)
            continue
        topic = i + 1 < len(args) and args[i + 1] in _INFO_TOPICS
        if arg in _FLAGS_WITH_VALUE or (arg in ("-i", "--info") and topic):
            takes_value = True
        elif arg == "-" or ("=" not in arg and not arg.startswith(("-", "+"))):
            bare.append(arg)
            continue
        out.append(arg)
    if not bare:
        return out
    given = [a for a in out if a.split("=", 1)[0].lstrip("+~") == key]
    if len(bare) > 1 or given:
        raise LyricsegError(f"one {key} at a time: got {', '.join(map(repr, [*given, *bare]))}")
    return [f"{key}={_quote_override_value(bare[0])}", *out]


def _one_line(text: str) -> str:
    """A multi-line Hydra message on one line (option lists joined by commas)."""
    text = text.split("Config search path:")[0]
    text = re.sub(r"\s*\n\s*\n\s*", ". ", text.strip())
    text = re.sub(r":\s*\n\t", ": ", text)
    text = re.sub(r"\n\t", ", ", text)
    return re.sub(r"\s*\n+\s*", " ", text)


def describe_config_error(err: Exception) -> str:
    """One line for a config composition error: for an unknown key, the valid keys beside it."""
    cause = err.__cause__
    parent = getattr(cause, "parent_node", None)
    key = getattr(cause, "full_key", None)
    if key and OmegaConf.is_dict(parent) and "not in struct" in str(cause):
        where, _, name = str(key).rpartition(".")
        keys = [k for k in parent if not (where == "" and k == "hydra")]
        place = f" in {where}" if where else ""
        return (
            f"no key '{name}'{place}; valid keys: {', '.join(map(str, keys))} "
            f"(+{key}=VALUE adds a new key)"
        )
    return _one_line(str(err))


#: What a class raises when a config gives it a value or argument it does not take.
_REFUSED_VALUE = (ValueError, TypeError, LyricsegError)


def refused_config_value(err: InstantiationException) -> str | None:
    """One line for a config value a class refused while Hydra built it, else None.

    ``features.oov_sounds=bogus`` or ``+model.net.foo=1`` fail inside the constructor that
    Hydra calls; the message names the config key (``data.features``) and the reason.
    """
    cause = err.__cause__
    if not isinstance(cause, _REFUSED_VALUE):
        return None
    key = re.search(r"full_key:\s*(\S+)", str(err))
    where = f"{key.group(1)}: " if key else ""
    return f"{where}{_one_line(str(cause))} (HYDRA_FULL_ERROR=1 shows the traceback)"


def _usage() -> str:
    """The command's usage line: the first line of its ``hydra.help.header``."""
    header = HydraConfig.get().help.header if HydraConfig.initialized() else ""
    return (header or "").strip().splitlines()[0] if header else ""


@contextlib.contextmanager
def _log_file(cfg: DictConfig) -> Iterator[None]:
    """With ``log_dir=DIR`` (prediction, serving), also log to ``DIR/<task_name>.log``."""
    log_dir = cfg.get("log_dir")
    if not log_dir:
        yield
        return
    path = Path(str(log_dir)) / f"{cfg.get('task_name', 'lyricseg')}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    root = logging.getLogger()
    console = next((h for h in root.handlers if h.formatter is not None), None)
    handler.setFormatter(console.formatter if console else logging.Formatter())
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def _task(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """``task`` with the command's plumbing: a log file on request, a missing key as usage."""

    @functools.wraps(task)
    def run(cfg: DictConfig) -> Any:
        try:
            with _log_file(cfg):
                return task(cfg)
        except MissingMandatoryValue as err:
            usage = _usage()
            given = len(sys.argv) > 1
            if given or not usage:
                usage = f"error: {err.full_key}= is required" + (f"; {usage}" if usage else "")
            print(usage, file=sys.stderr)
            sys.exit(2)

    return run


def hydra_main(
    task: Callable[[DictConfig], Any],
    config_name: str,
    config_dir: str | PathLike[str] = PACKAGED_CONFIG,
    before: Callable[[str, str], None] | None = None,
) -> Callable[[], Any]:
    """A Hydra main running ``task`` on ``config_name`` from ``config_dir``.

    Around Hydra's own main, the command takes a bare argument as the value of its
    :data:`POSITIONAL` key, reports config mistakes (an unknown key names the valid ones, a
    missing required value prints the usage) as one line with exit status 2, and adds a log
    file when the config's ``log_dir`` is set.

    Args:
        task: The task function, called with the composed config.
        config_name: Primary config file (``train``, ``predict``).
        config_dir: The config folder (default: the packaged config).
        before: Called with the config folder and name before Hydra starts (and creates a
            run folder), e.g. :func:`check_resume_path`.
    """
    register_resolvers()
    config_path = str(Path(config_dir).absolute())
    main = hydra.main(version_base="1.3", config_path=config_path, config_name=config_name)(
        _task(task)
    )

    @functools.wraps(main)
    def command() -> Any:
        try:
            sys.argv[1:] = expand_positional(sys.argv[1:], POSITIONAL.get(config_name))
        except LyricsegError as err:
            report_user_error(err)
            sys.exit(2)
        if before is not None:
            before(config_path, config_name)
        # Hydra prints its errors itself unless HYDRA_FULL_ERROR is set; set, they come here,
        # and config mistakes become one line (a user who set it gets the full trace).
        user_full = os.environ.get("HYDRA_FULL_ERROR")
        os.environ["HYDRA_FULL_ERROR"] = "1"
        try:
            return main()
        except (ConfigCompositionException, OverrideParseException, SearchPathException) as err:
            if user_full == "1":
                raise
            report_user_error(LyricsegError(describe_config_error(err)))
            sys.exit(2)
        except InstantiationException as err:
            message = None if user_full == "1" else refused_config_value(err)
            if message is None:
                raise
            report_user_error(LyricsegError(message))
            sys.exit(2)
        finally:
            if user_full is None:
                os.environ.pop("HYDRA_FULL_ERROR", None)
            else:
                os.environ["HYDRA_FULL_ERROR"] = user_full

    return command
