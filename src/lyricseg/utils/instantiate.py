"""Build objects from stored, plain configs without running anything the config names.

A stored config (a checkpoint's record, a finished run's loss, a fitted calibrator) is data:
:func:`safe_instantiate` builds it like Hydra's ``instantiate`` would, but only from classes
on an allow-list, looked up by their dotted path. Nothing is imported on the config's word,
nothing is resolved (an OmegaConf interpolation could build objects of its own), and the only
Hydra keys honoured are ``_target_`` and ``_partial_``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Set
from types import ModuleType
from typing import Any

from lyricseg.utils.errors import LyricsegError

#: The only Hydra-style keys a stored config may use.
BUILD_KEYS = ("_target_", "_partial_")

#: Classes a config may build: by dotted path, or a set of classes (named by their module
#: and qualified name).
Allowed = Mapping[str, type] | Set[type]


class UnsafeConfigError(LyricsegError):
    """A config :func:`safe_instantiate` refuses to build.

    Attributes:
        where: Dotted place of the offending entry (``decoder.views.string``).
        what: What is wrong there.
        target: The refused ``_target_`` when that is the problem, else None.
    """

    def __init__(self, where: str, what: str, target: Any = None) -> None:
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what
        self.target = target


def class_path(cls: type) -> str:
    """The dotted path of the module that defines ``cls`` and its qualified name."""
    return f"{cls.__module__}.{cls.__qualname__}"


def exported_classes(
    modules: Iterable[ModuleType], base: type = object, *, without_bases: bool = False
) -> dict[str, type]:
    """Classes that ``modules`` export in ``__all__``, by both their dotted paths.

    Each class is named as exported (``lyricseg.losses.FocalLoss``) and as defined
    (``lyricseg.losses.focal.FocalLoss``). Only subclasses of ``base`` count.

    Args:
        modules: Packages whose ``__all__`` lists the classes.
        base: The kind of class wanted.
        without_bases: Leave out classes that another exported class derives from (where
            those are abstract bases, such as ``View`` or ``Decoder``).
    """
    exported: dict[str, type] = {}
    for module in modules:
        for attr in module.__all__:
            obj = getattr(module, attr)
            if isinstance(obj, type) and issubclass(obj, base):
                exported[f"{module.__name__}.{attr}"] = obj
                exported[class_path(obj)] = obj
    if not without_bases:
        return exported
    classes = set(exported.values())
    bases = {c for c in classes if any(o is not c and issubclass(o, c) for o in classes)}
    return {name: cls for name, cls in exported.items() if cls not in bases}


def _table(allowed: Allowed) -> Mapping[str, type]:
    return allowed if isinstance(allowed, Mapping) else {class_path(c): c for c in allowed}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _listed(target: Any, table: Mapping[str, type]) -> bool:
    return isinstance(target, str) and target in table


def _check(node: Any, table: Mapping[str, type] | None, where: str) -> None:
    if isinstance(node, str):
        if "${" in node:
            raise UnsafeConfigError(
                where, f"{_short(node)} is an interpolation; a stored config holds literal values"
            )
    elif isinstance(node, Mapping):
        if not isinstance(node, dict):  # a DictConfig would resolve its values when read
            raise UnsafeConfigError(where, f"a {type(node).__name__} is not a plain dict")
        for key, value in node.items():
            if not isinstance(key, str):
                raise UnsafeConfigError(where, f"key {_short(key)} is not a string")
            _check(key, None, f"{where} key")
            if key.startswith("_") and key.endswith("_") and key not in BUILD_KEYS:
                raise UnsafeConfigError(
                    where, f"{key} is not allowed (only {' and '.join(BUILD_KEYS)})"
                )
            if key == "_partial_" and not isinstance(value, bool):
                raise UnsafeConfigError(where, f"_partial_ is {_short(value)}, not true or false")
            _check(value, table, f"{where}.{key}")
            if key == "_target_" and table is not None and not _listed(value, table):
                raise UnsafeConfigError(where, f"refusing to build {value!r}", target=value)
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            _check(value, table, f"{where}[{i}]")


def check_instantiable(node: Any, allowed: Allowed | None, where: str = "config") -> None:
    """Refuse what :func:`safe_instantiate` would not build, building nothing.

    Args:
        node: A plain config: mappings, lists and literals.
        allowed: The classes a ``_target_`` may name; None checks the form only.
        where: Name of ``node`` in messages.

    Raises:
        UnsafeConfigError: For the first interpolation, non-string key, Hydra key other
            than ``_target_``/``_partial_``, non-boolean ``_partial_`` or ``_target_`` off
            the allow-list, naming where it sits.
    """
    _check(node, None if allowed is None else _table(allowed), where)


def _build(node: Any, table: Mapping[str, type]) -> Any:
    if isinstance(node, Mapping):
        if "_target_" not in node:
            return {key: _build(value, table) for key, value in node.items()}
        cls = table[node["_target_"]]
        kwargs = {k: _build(v, table) for k, v in node.items() if k not in BUILD_KEYS}
        return functools.partial(cls, **kwargs) if node.get("_partial_") else cls(**kwargs)
    if isinstance(node, list | tuple):
        return [_build(value, table) for value in node]
    return node


def safe_instantiate(node: Any, allowed: Allowed, where: str = "config") -> Any:
    """Build a plain config whose every ``_target_`` is on ``allowed``.

    Mappings with ``_target_`` become ``cls(**built_arguments)`` (a ``functools.partial``
    with ``_partial_: true``), nested ones first; other mappings, lists and literals are
    returned as they are (lists as lists).

    Args:
        node: A plain config (no ``DictConfig``: it is never resolved).
        allowed: Classes by dotted path, or a set of classes named by :func:`class_path`.
        where: Name of ``node`` in messages.

    Raises:
        UnsafeConfigError: When :func:`check_instantiable` refuses ``node``; nothing is built then.
    """
    table = _table(allowed)
    _check(node, table, where)
    return _build(node, table)


#: A whole-string reference to another key (``${trainer.max_epochs}``): no resolver, no text.
_REFERENCE = re.compile(r"\$\{\s*([A-Za-z_][\w\-]*(?:\.[A-Za-z_][\w\-]*)*)\s*\}")
#: How many references may lead to one another before a value is refused.
_MAX_HOPS = 16


def resolve_references(root: Mapping[str, Any], node: Any, where: str = "config") -> Any:
    """A node of a saved config as plain data, its references to other keys followed.

    A run's saved ``.hydra/config.yaml`` may set one key from another (``${trainer.max_epochs}``);
    reading it must run nothing, so only a whole value that names another key absolutely is
    followed (in ``root``, an unresolved plain container). A resolver call (``${oc.env:X}``,
    ``${hydra:...}``), a relative reference or an interpolation inside text is refused.

    Args:
        root: The whole saved config as a plain container (``resolve=False``).
        node: The part of ``root`` to resolve.
        where: Name of ``node`` in messages.

    Raises:
        UnsafeConfigError: For the first value that is not a plain reference, a reference to a
            missing key, or references that lead back to themselves.
    """

    def follow(value: Any, place: str, hops: int) -> Any:
        if isinstance(value, Mapping):
            return {k: follow(v, f"{place}.{k}", hops) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [follow(v, f"{place}[{i}]", hops) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        match = _REFERENCE.fullmatch(value.strip())
        if match is None:
            raise UnsafeConfigError(
                place, f"{_short(value)} is not a reference to another key; not resolved"
            )
        if hops >= _MAX_HOPS:
            raise UnsafeConfigError(place, f"{_short(value)}: references lead in a circle")
        target: Any = root
        for part in match.group(1).split("."):
            if not isinstance(target, Mapping) or part not in target:
                raise UnsafeConfigError(place, f"{_short(value)} names no key of the config")
            target = target[part]
        return follow(target, match.group(1), hops + 1)

    return follow(node, where, 0)
