"""File output: atomic writes, and the checks that keep outputs off the inputs.

Every output is written to a temporary file beside its target and renamed over it only when
complete, so a failure leaves the old file (or none) and no temporary behind. An operating
system error while writing (a full or read-only filesystem, a directory in the way) becomes
an :class:`OutputError`: one line naming the path and the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from lyricseg.utils.errors import LyricsegError

PathArg = str | os.PathLike[str]


class OutputError(LyricsegError):
    """An output that must not or cannot be written (it is an input, a directory, ...)."""


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


def _resolve(path: PathArg) -> Path:
    return Path(os.path.realpath(path))


def _same_file(a: PathArg, b: PathArg) -> bool:
    """Whether two paths name one file: equal after resolving links, or the same inode."""
    if _resolve(a) == _resolve(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def _check_writable_path(path: Path) -> None:
    """Refuse a path that cannot become a regular file: a directory, a device, a file's child."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except NotADirectoryError as err:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        reason = f"{blocker} is a file, not a directory" if blocker else _reason(err)
        raise OutputError(f"cannot write {path}: {reason}") from None
    except OSError as err:
        raise OutputError(f"cannot write {path}: {_reason(err)}") from None
    if stat.S_ISDIR(mode):
        raise OutputError(f"cannot write {path}: it is a directory; name a file to write")
    if not stat.S_ISREG(mode):
        raise OutputError(f"cannot write {path}: it exists and is not a regular file")


def check_outputs(
    inputs: Iterable[PathArg | None],
    outputs: Iterable[PathArg | None],
    reads: Callable[[Path], bool] | None = None,
) -> None:
    """Refuse outputs that would replace an input or each other, or cannot be files at all.

    Paths are compared after resolving symbolic links (and by inode, for hard links). Call it
    before reading anything, so a refused run does no work and touches no file.

    Args:
        inputs: What the command reads: files, or directories read recursively. ``None`` and
            ``-`` (standard input) are skipped.
        outputs: What the command writes. ``None`` and ``-`` are skipped.
        reads: For an input directory, whether a file inside it would be read; an output it
            accepts is refused. ``None``: every file inside an input directory is read.

    Raises:
        OutputError: Naming the first output that is an input, lies inside an input
            directory where it would be read, is given twice, is a directory or a device, or
            lies under a file.
    """
    given_inputs = [Path(p) for p in inputs if p is not None and str(p) != "-"]
    given_outputs = [Path(p) for p in outputs if p is not None and str(p) != "-"]
    for i, out in enumerate(given_outputs):
        for source in given_inputs:
            if _same_file(out, source):
                raise OutputError(
                    f"refusing to write {out}: it is the input {source}; name another output"
                )
            inside = source.is_dir() and _resolve(source) in _resolve(out).parents
            if inside and (reads is None or reads(out)):
                raise OutputError(
                    f"refusing to write {out}: it lies in the input directory {source}, "
                    "where it would be read as input; name an output outside it"
                )
        for other in given_outputs[:i]:
            if _same_file(out, other):
                raise OutputError(
                    f"refusing to write {out}: it is also given as the output {other}; "
                    "name different files"
                )
        _check_writable_path(out)


class _Staged:
    """A temporary file beside ``path`` that replaces it on :meth:`commit`.

    Missing parent directories are created, and removed again by :meth:`discard` when empty.
    """

    def __init__(self, path: Path, mode: str):
        self.path = path
        self.created: list[Path] = []
        self.tmp: str | None = None
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        try:
            for directory in reversed(missing):
                directory.mkdir()
                self.created.append(directory)
            fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        except BaseException:
            self._remove_directories()
            raise
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)
        encoding = None if "b" in mode else "utf-8"
        self.handle: IO[Any] = os.fdopen(fd, mode, encoding=encoding)

    def finish(self) -> None:
        """Flush the data to disk and close the temporary file."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()

    def commit(self) -> None:
        """Rename the temporary file over the target."""
        assert self.tmp is not None
        os.replace(self.tmp, self.path)
        self.tmp = None

    def discard(self) -> None:
        """Remove the temporary file and the directories made for it (unless committed)."""
        with contextlib.suppress(OSError):
            self.handle.close()
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            self._remove_directories()

    def _remove_directories(self) -> None:
        for directory in reversed(self.created):
            with contextlib.suppress(OSError):
                directory.rmdir()


@contextlib.contextmanager
def atomic_write(path: PathArg, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` only if the block succeeds.

    Args:
        path: Final destination.
        mode: ``"w"`` for text (UTF-8) or ``"wb"`` for bytes.

    Yields:
        The open temporary file.

    Raises:
        OutputError: When the operating system refuses the write (full or read-only
            filesystem, a directory in the way, ...); nothing is left behind.
    """
    path = Path(path)
    staged: _Staged | None = None
    try:
        staged = _Staged(path, mode)
        yield staged.handle
        staged.finish()
        staged.commit()
    except BaseException as err:
        if staged is not None:
            staged.discard()
        if isinstance(err, OSError):
            raise OutputError(f"cannot write {path}: {_reason(err)}") from None
        raise


def atomic_write_files(contents: Mapping[PathArg, str]) -> None:
    """Write several text files (UTF-8) all or none: each is complete before any is renamed.

    Args:
        contents: The text of each file, by path.

    Raises:
        OutputError: As :func:`atomic_write`; no file is replaced then (short of a rename
            failing after an earlier one succeeded, which the operating system makes rare).
    """
    staged: list[_Staged] = []
    path = None
    try:
        for path, text in contents.items():
            staged.append(_Staged(Path(path), "w"))
            staged[-1].handle.write(text)
            staged[-1].finish()
        for item in staged:
            path = item.path
            item.commit()
    except BaseException as err:
        for item in reversed(staged):
            item.discard()
        if isinstance(err, OSError):
            raise OutputError(f"cannot write {path}: {_reason(err)}") from None
        raise


def json_text(obj: Any) -> str:
    """``obj`` as indented JSON with a final newline (how lyricseg writes JSON files)."""
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def atomic_write_json(path: PathArg, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write_files({path: json_text(obj)})


def remove_output(path: PathArg) -> None:
    """Delete an output file if present.

    Raises:
        OutputError: When the operating system refuses (a read-only filesystem, ...).
    """
    try:
        Path(path).unlink(missing_ok=True)
    except OSError as err:
        raise OutputError(f"cannot remove {path}: {_reason(err)}") from None
