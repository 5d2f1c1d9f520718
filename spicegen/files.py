"""Writing result files: atomically, durably, and with the permissions the user's umask asks for.

Every artefact spicegen writes (Verilog-A and SPICE files, surrogates and their exports, reports,
tables, figures) goes through :func:`write_stream`: the content goes to a temporary file in the
target's folder, is flushed to disk (``fsync``) and renamed over the target. A run that fails or is
killed midway (full disk, an exception in the serializer, SIGKILL) leaves the previous file intact
and no partial file behind. The new file gets mode ``0666 & ~umask`` (0644 under umask 022, 0600
under 077), as ``open()`` would give it.

This module imports only the standard library, so the numpy-only surrogate layer can use it.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_text(folder / "a.txt", "hello").read_text()
'hello'
"""
from __future__ import annotations

import errno
import json
import os
import secrets
from pathlib import Path
from typing import IO, Any, Callable

NEW_FILE_MODE = 0o666
"""Mode requested for a new file; the kernel removes the umask's bits, as for ``open()``."""
_TEMP_NAME_CHARS = 200
"""Characters of the target's name kept in the temporary file's name (which must stay under 255)."""


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path (see :func:`write_stream`)."""
    return write_bytes(path, text.encode())


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path (see :func:`write_stream`)."""
    return write_stream(path, lambda handle: handle.write(data))


def write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (NaN and infinities as ``null``, numpy scalars as numbers), atomically."""
    return write_text(path, json.dumps(to_jsonable(obj), indent=indent, allow_nan=False) + "\n")


def write_stream(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then move it into place.

    Parameters
    ----------
    path
        The file to create or replace; missing parent folders are created.
    write
        Writes the content to the binary file handle it is given (e.g. ``figure.savefig``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    IsADirectoryError
        If ``path`` is a folder (name a file inside it).
    OSError
        If the folder cannot be written or the disk is full. In that case, and when ``write`` itself
        raises, the previous content of ``path`` is untouched and no temporary file is left.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary, fd = _create_temporary(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:  # e.g. a full disk
            raise OSError(exc.errno, f"{exc.strerror} (the previous file is unchanged)", str(target)) from exc
        raise
    _sync_folder(target.parent)
    return target


def _create_temporary(target: Path) -> tuple[Path, int]:
    """A new, empty file beside ``target`` (mode from the umask) and its descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        temporary = target.with_name(f".{target.name[:_TEMP_NAME_CHARS]}.{secrets.token_hex(4)}.tmp")
        try:
            return temporary, os.open(temporary, flags, NEW_FILE_MODE)
        except FileExistsError:
            continue
        except OSError as exc:  # name the file asked for, not the temporary one
            raise OSError(exc.errno, f"{exc.strerror} (creating a file in its folder)", str(target)) from None


def _sync_folder(folder: Path) -> None:
    """Flush the folder entry of a renamed file to disk, where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def to_jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays as Python numbers and lists, non-finite floats as ``None``,
    paths as text and tuples as lists."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return to_jsonable(obj.tolist())
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    return obj
