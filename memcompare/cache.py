"""The trace cache: recorded traces kept on disk between runs (issue 10.1).

An entry is addressed by what decides a recording: the workload's name, its parameters (the seed
among them), its plugin's name and version, the sha256 of the plugin's own source files, and of
memcompare's Recorder — change any of them and the key changes, so a stale trace is never
reused. Each entry is two files under ``$MEMCOMPARE_CACHE/traces/`` (default
``~/.cache/memcompare/traces/``): ``KEY.mctrace``, written by :func:`memcompare.traceio.save`,
and ``KEY.json``, which holds the trace's sha256 and counts and the file's size and sha256.
A reader checks the file with its own checksums (the crc32 of its header and of each block of
its body) and its size and trace sha256 against the metadata; a mismatch, or a file that does
not load, removes the entry and the trace is recorded again. Once a run has prepared the trace,
a third file, ``KEY.derived-VERSION.npz``, keeps the tables every replay of it needs
(:data:`DERIVED`), for this memcompare's code (VERSION): a warm run reads them instead of
computing them again.

Writers write a temporary file in the same directory and rename it into place, data before
metadata, so concurrent runs never see half an entry (two writers of one key write the same
bytes: recording is deterministic). The cache keeps at most ``MEMCOMPARE_TRACE_CACHE_MB``
(default 2048) MiB, evicting the least recently used entries (a reuse touches the entry).

This module records nothing itself and knows nothing of runs or cells.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from . import params as P
from .errors import ConfigError
from .files import atomic_write

#: the cache's default size limit, in MiB
DEFAULT_LIMIT_MB = 2048
LIMIT_ENV = "MEMCOMPARE_TRACE_CACHE_MB"
#: the cache's directory, if not ``$MEMCOMPARE_CACHE/traces`` (the test suite uses its own)
DIR_ENV = "MEMCOMPARE_TRACE_CACHE"
SUFFIX = ".mctrace"
#: what every replay of a trace reads and :func:`memcompare.engine.prepare` computes once per
#: trace, by their names in the trace's cache of derived tables: the objects reachable after the
#: last event (``Trace.reachable_at_end``, a Python walk of the object graph) and the last
#: event that names each object (the engine's use-after-reclaim check). Kept beside an entry,
#: a warm run reads them instead of computing them again (0.9 s of the default config's).
DERIVED = ("reach_end", "last_touch")
DERIVED_INFIX = ".derived-"
META_KEYS = ("sha256", "events", "objects", "file_sha256", "file_bytes", "workload", "params")


def root() -> Path:
    """``MEMCOMPARE_CACHE`` or ``~/.cache/memcompare`` (the native replayers build there too)."""
    return Path(os.environ.get("MEMCOMPARE_CACHE") or Path.home() / ".cache" / "memcompare")


def limit_bytes() -> int:
    raw = os.environ.get(LIMIT_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_LIMIT_MB << 20
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb >= 0 or mb == float("inf"):
        raise ConfigError(f"{LIMIT_ENV}: must be a number of MiB >= 0 (0 keeps nothing), "
                          f"got {raw!r}")
    return int(mb * (1 << 20))


def _hash_files(h, files: list[Path], base: Path) -> None:
    for f in sorted(files):
        h.update(str(f.relative_to(base)).encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")


@functools.lru_cache(maxsize=None)
def code_hash(module_name: str) -> str:
    """The sha256 of a module's source: of every ``.py`` file of its top-level package, or of
    the module's file alone when it is not in a package."""
    module = sys.modules[module_name]
    h = hashlib.sha256()
    top = module_name.split(".")[0]
    pkg = sys.modules.get(top)
    pkg_file = getattr(pkg, "__file__", None)
    if pkg is not None and pkg_file and Path(pkg_file).name == "__init__.py":
        base = Path(pkg_file).resolve().parent
        _hash_files(h, [p for p in base.rglob("*.py") if "__pycache__" not in p.parts], base)
    else:
        try:
            src = Path(inspect.getfile(module)).resolve()
            _hash_files(h, [src], src.parent)
        except (TypeError, OSError):        # defined in a notebook or a test: its code text
            h.update(repr(module_name).encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _derived_version() -> str:
    """What decides the derived tables besides the trace: memcompare's own code (every file of
    the package, the way :func:`code_hash` hashes a plugin's)."""
    return code_hash(__name__)[:16]


@functools.lru_cache(maxsize=None)
def _recorder_hash() -> str:
    """memcompare's own part of an entry: the Recorder, the call that drives it, and the
    format that writes it (a reader trusts an entry's events to be as this memcompare wrote
    them, :meth:`TraceCache.load`)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    _hash_files(h, [here / "trace.py", here / "api.py", here / "traceio.py"], here)
    return h.hexdigest()


def key(entry, params: Any) -> str:
    """The cache key of one workload instance (``entry``: the registry's workload entry)."""
    doc = {"workload": entry.name, "params": P.as_dict(params), "plugin": entry.plugin,
           "version": entry.version, "code": code_hash(entry.cls.__module__),
           "class": entry.cls.__qualname__,
           "recorder": _recorder_hash()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class TraceCache:
    """One cache directory; ``limit`` in bytes (default: :func:`limit_bytes`)."""

    def __init__(self, directory: Path | None = None, limit: int | None = None):
        if directory is None:
            directory = os.environ.get(DIR_ENV) or root() / "traces"
        self.dir = Path(directory)
        self.limit = limit_bytes() if limit is None else limit

    def path(self, k: str) -> Path:
        return self.dir / f"{k}{SUFFIX}"

    def _meta_path(self, k: str) -> Path:
        return self.dir / f"{k}.json"

    def _derived_path(self, k: str) -> Path:
        return self.dir / f"{k}{DERIVED_INFIX}{_derived_version()}.npz"

    def _derived_files(self, k: str) -> list[Path]:
        """Every derived-tables file of entry ``k``, of this memcompare or another."""
        return list(self.dir.glob(f"{k}{DERIVED_INFIX}*.npz"))

    def lookup(self, k: str) -> dict[str, Any] | None:
        """The entry's metadata if both its files are there and the metadata is whole."""
        try:
            meta = json.loads(self._meta_path(k).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or any(x not in meta for x in META_KEYS):
            return None
        if not self.path(k).is_file():
            return None
        return {**meta, "path": str(self.path(k))}

    def store(self, k: str, trace) -> dict[str, Any]:
        """Save ``trace`` as entry ``k``; returns its metadata (with ``path``)."""
        from .traceio import save
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{k}.{secrets.token_hex(4)}.tmp{SUFFIX}"
        try:
            save(trace, tmp)
            digest, size = file_digest(tmp)
            os.replace(tmp, self.path(k))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        meta = {"sha256": trace.sha256, "events": int(trace.events),
                "objects": int(trace.objects), "file_sha256": digest, "file_bytes": size,
                "workload": trace.workload, "params": trace.params}
        atomic_write(self._meta_path(k), json.dumps(meta, sort_keys=True, default=str))
        return {**meta, "path": str(self.path(k))}

    def load(self, k: str, meta: dict[str, Any]):
        """The entry's trace, checked against its metadata; None (and the entry removed) if the
        file is missing, corrupt or not the trace the metadata names.

        The file's own checksums do the checking, in the one pass that maps it: the crc32 of its
        header and of every block of its body (:func:`memcompare.traceio.load`), then the size
        and the trace sha256 its header names against the metadata. A sha256 of the whole file
        as well (``file_sha256``, written by :meth:`store`) would read every byte once more
        and tell nothing the block checksums do not: a flipped bit or a torn write fails a
        crc32 either way."""
        from .errors import MemcompareError
        from .traceio import load
        path = self.path(k)
        try:
            if path.stat().st_size != meta.get("file_bytes"):
                self.remove(k)
                return None
            # written by store() from a trace the Recorder validated: the checksums suffice
            trace = load(path, check_events=False)
        except FileNotFoundError:
            return None
        except (MemcompareError, OSError, ValueError):
            self.remove(k)
            return None
        # the header's sha256, checked by its crc32, is the writer's hash of these columns:
        # hashing the trace's encoding again (0.65 s for 4.7 M events) would tell nothing more
        if trace._cache.get("sha256") != meta.get("sha256"):
            self.remove(k)
            return None
        self.touch(k)
        return trace

    def store_derived(self, k: str, trace) -> bool:
        """Keep the :data:`DERIVED` tables ``trace`` has computed beside entry ``k`` (replacing
        those of another memcompare); False if it has none of them."""
        import numpy as np
        tables = {name: trace._cache[name] for name in DERIVED
                  if isinstance(trace._cache.get(name), np.ndarray)}
        if not tables:
            return False
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._derived_path(k)
        tmp = self.dir / f".{k}.{secrets.token_hex(4)}.tmp.npz"
        try:
            with open(tmp, "wb") as f:
                np.savez(f, trace_sha256=np.frombuffer(bytes.fromhex(trace.sha256), np.uint8),
                         **tables)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        for old in self._derived_files(k):
            if old != path:
                old.unlink(missing_ok=True)
        return True

    def load_derived(self, k: str, trace) -> bool:
        """Give ``trace`` the derived tables kept beside entry ``k`` by this memcompare; False
        (and a corrupt file removed) if there are none to give. The file is a zip whose members
        carry their crc32 (checked as they are read), and it names the trace it was computed
        for."""
        import numpy as np
        path = self._derived_path(k)
        try:
            with np.load(path, allow_pickle=False) as z:
                if bytes(z["trace_sha256"]).hex() != trace.sha256:
                    raise ValueError("computed for another trace")
                tables = {name: z[name] for name in DERIVED if name in z.files}
            n = trace.objects
            if not tables or any(t.shape != (n,) for t in tables.values()):
                raise ValueError("not one entry per object")
        except FileNotFoundError:
            return False
        except Exception:           # a torn or corrupt file: BadZipFile, a crc32 mismatch, ...
            path.unlink(missing_ok=True)
            return False
        for name, table in tables.items():
            trace._cache.setdefault(name, table)
        return True

    def touch(self, k: str) -> None:
        """Mark the entry used now (least-recently-used eviction reads the data file's mtime)."""
        try:
            os.utime(self.path(k))
        except OSError:
            pass

    def remove(self, k: str) -> None:
        for p in (self._meta_path(k), self.path(k), *self._derived_files(k)):
            try:
                p.unlink()
            except OSError:
                pass

    def entries(self) -> list[tuple[str, int, float]]:
        """(key, bytes of both files, last use) of every entry, oldest use first."""
        out = []
        if not self.dir.is_dir():
            return out
        for p in self.dir.glob(f"*{SUFFIX}"):
            if p.name.startswith("."):
                continue
            k = p.name[:-len(SUFFIX)]
            try:
                st = p.stat()
                size = st.st_size
                meta = self._meta_path(k)
                size += meta.stat().st_size if meta.exists() else 0
                size += sum(d.stat().st_size for d in self._derived_files(k))
            except OSError:
                continue
            out.append((k, size, st.st_mtime))
        out.sort(key=lambda e: (e[2], e[0]))
        return out

    def evict(self, keep: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Remove least recently used entries until the cache fits its limit; never the entries
        in ``keep`` (the traces the current run still needs). Returns the keys removed."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        removed = []
        for k, size, _ in entries:
            if total <= self.limit:
                break
            if k in keep:
                continue
            self.remove(k)
            total -= size
            removed.append(k)
        return removed

    def info(self) -> dict[str, Any]:
        entries = self.entries()
        return {"directory": str(self.dir), "entries": len(entries),
                "bytes": sum(size for _, size, _ in entries), "limit_bytes": self.limit}

    def clear(self) -> int:
        """Remove every entry (and any temporary file left by a killed writer)."""
        n = 0
        for k, _, _ in self.entries():
            self.remove(k)
            n += 1
        if self.dir.is_dir():
            for p in self.dir.glob(".*.tmp*"):
                p.unlink(missing_ok=True)
            for p in (*self.dir.glob("*.json"), *self.dir.glob(f"*{DERIVED_INFIX}*.npz")):
                p.unlink(missing_ok=True)         # left without their trace file
        return n
