"""Safe file writing and a small TOML writer.

:func:`atomic_write_bytes` (and its siblings :func:`atomic_write_text`, :func:`atomic_torch_save`)
write the data to a temporary file in the destination's directory, flush and ``fsync`` it, move it
over the destination with :func:`os.replace` (atomic on POSIX and Windows), and ``fsync`` the
directory so the rename itself survives a power cut. A reader therefore sees either the old file or
the new one, never a truncated mix, even when the writer is killed with ``SIGKILL`` half-way.

The files of the library that are written whole go through them: graph files
(``NeuralGraph.save``), a run directory's ``config.toml``, ``checkpoint.pt`` and rewritten
``metrics.jsonl`` (:class:`wiring.train.RunDirectory`), the MNIST-1D cache, and the demo's
``results.json`` and ``report.html`` (:mod:`wiring.demo`). A file that grows is not rewritten:
during training ``metrics.jsonl`` gets one appended, ``fsync``-ed line per epoch
(``RunDirectory.append_metrics``); a crash can cut only that last line, and resuming rewrites the
file from the checkpoint's history.

:func:`dump_toml` writes the nested mappings the project keeps as configuration (``config.toml``
of a run) in a form :mod:`tomllib` reads back to the same mapping.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["atomic_torch_save", "atomic_write_bytes", "atomic_write_text", "dump_toml"]


def _fsync_dir(directory: Path) -> None:
    """``fsync`` a directory so a rename inside it is durable (a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _atomic_open(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a temporary binary file that replaces ``path`` atomically when the block ends cleanly.

    If the block raises, the temporary file is removed and ``path`` is left untouched.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, found {type(path).__name__}")
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(
            f"path: the directory {str(directory)!r} of {str(target)!r} does not exist; "
            "create it first"
        )
    # O_EXCL on a random name: no clash with another writer; mode 0o666 lets the umask decide the
    # permissions, exactly as for a plain open(path, "wb").
    tmp = directory / f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    The bytes go to a temporary file in the same directory, which is flushed, ``fsync``-ed and
    then moved over ``path`` with :func:`os.replace`; the directory is ``fsync``-ed afterwards. A
    concurrent reader, or a reader after a crash, sees either the previous content of ``path`` or
    ``data``, never a partial file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file. Its directory must exist.
    data : bytes
        The complete new content.

    Raises
    ------
    TypeError
        If ``data`` is not bytes-like or ``path`` is not a path.
    FileNotFoundError
        If the directory of ``path`` does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "a.bin"
    ...     atomic_write_bytes(p, b"abc")
    ...     p.read_bytes()
    b'abc'
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data: expected bytes, found {type(data).__name__}")
    with _atomic_open(path) as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, newlines kept as given) to ``path`` atomically.

    See :func:`atomic_write_bytes` for the guarantees.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file. Its directory must exist.
    text : str
        The complete new content.
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, found {type(text).__name__}")
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj, path)``, atomically.

    The object should hold only tensors, numbers, strings, lists, tuples and dicts so that it can
    be read back with ``torch.load(path, weights_only=True)``, which never unpickles arbitrary
    code.

    Parameters
    ----------
    obj : object
        What to save, typically a dict of state dicts.
    path : str or os.PathLike
        Destination file. Its directory must exist.
    """
    import torch

    with _atomic_open(path) as handle:
        torch.save(obj, handle)


# --------------------------------------------------------------------------------------------- TOML

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:  # other control characters must be escaped in TOML
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: Any, where: str) -> str:
    if not isinstance(key, str):
        raise TypeError(
            f"dump_toml: keys must be str, found {type(key).__name__} {key!r} in {where}"
        )
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_value(value: Any, where: str) -> str:
    # bool before int: bool is a subclass of int.
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, numbers.Integral):
        number = int(value)
        if not -(2**63) <= number < 2**63:
            raise ValueError(f"dump_toml: {where} = {number} does not fit TOML's 64-bit integers")
        return str(number)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return "nan"
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        # repr is the shortest round-tripping form; '0.1', '1e-05', '1e+16' are all valid TOML.
        return repr(number)
    if isinstance(value, (list, tuple)):
        items = [_toml_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return "[" + ", ".join(items) + "]"
    if isinstance(value, Mapping):  # only reached inside arrays: written as an inline table
        pairs = [
            f"{_toml_key(k, where)} = {_toml_value(v, f'{where}.{k}')}" for k, v in value.items()
        ]
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(
        f"dump_toml: {where} has a value of type {type(value).__name__}; TOML holds only str, int, "
        "float, bool, lists and tables (there is no null: None is left out of a table, and cannot "
        "be an item of a list)"
    )


def _dump_table(table: Mapping[str, Any], prefix: list[str], lines: list[str]) -> None:
    # ``prefix`` holds the already-quoted names of the enclosing tables.
    sub_tables = []
    for key, value in table.items():
        name = _toml_key(key, ".".join(prefix) or "the top level")
        if value is None:  # TOML has no null: an optional option left out reads back as None
            continue
        if isinstance(value, Mapping):
            sub_tables.append((name, value))
        else:
            lines.append(f"{name} = {_toml_value(value, '.'.join([*prefix, key]))}")
    for name, value in sub_tables:
        if lines:
            lines.append("")
        path = [*prefix, name]
        lines.append("[" + ".".join(path) + "]")
        _dump_table(value, path, lines)


def dump_toml(mapping: Mapping[str, Any]) -> str:
    """Write a nested mapping as TOML text.

    Scalars (str, int, float, bool) and lists of them become ``key = value`` lines; nested
    mappings become tables (``[outer.inner]``); mappings inside lists become inline tables. TOML
    has no null, so a key whose value is None is left out: the option objects
    (:mod:`wiring.options`) read a missing key of an optional field as None. The result parses
    back with :func:`tomllib.loads` to an equal mapping without the None entries (NaN compares
    unequal to itself, as always).

    Parameters
    ----------
    mapping : Mapping[str, Any]
        Keys are str; values are str, int (64-bit), float, bool, None (left out), lists/tuples of
        these (but not None), or mappings.

    Returns
    -------
    str
        TOML text ending in a newline.

    Raises
    ------
    TypeError
        For a non-str key or a value TOML cannot hold (e.g. None inside a list), naming the key.

    Examples
    --------
    >>> text = dump_toml({"seed": 1, "train": {"lr": 0.1, "optimizer": "sgd", "sizes": [1, 2]}})
    >>> print(text, end="")
    seed = 1
    <BLANKLINE>
    [train]
    lr = 0.1
    optimizer = "sgd"
    sizes = [1, 2]
    >>> import tomllib
    >>> tomllib.loads(dump_toml({"a b": {"c": [True, "x"]}, "step": None}))
    {'a b': {'c': [True, 'x']}}
    """
    if not isinstance(mapping, Mapping):
        raise TypeError(f"mapping: expected a Mapping, found {type(mapping).__name__}")
    lines: list[str] = []
    _dump_table(mapping, [], lines)
    return "\n".join(lines) + "\n" if lines else ""
