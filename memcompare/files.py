"""Writing files so that a reader sees the old file or the new one, never half of one.

Shared by every stage that writes (trace files, results, reports); knows nothing about them.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Iterable


def atomic_write(path: str | os.PathLike, data: str | bytes | Iterable[bytes]) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    The temporary file is opened with mode 0o666 rather than by ``tempfile.mkstemp``, whose
    0o600 would survive the rename: the user's umask decides, as for any file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    parts = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
