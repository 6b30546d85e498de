"""The results directory: ``results.json`` (the contract of docs/design.md §6), ``results.csv`` and
``tables.md``, each written atomically (a temporary file, then ``os.replace``).

This module formats and writes; it never simulates.
"""
from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


FORMAT = "memcompare-results"
VERSION = 1


def git_commit() -> str | None:
    """The commit of the memcompare checkout in use, when it is one."""
    here = Path(__file__).resolve().parent.parent
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                           text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    commit = r.stdout.strip()
    # the published results/ are outputs: rewriting them does not make the code dirty
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                            ":(exclude)results"], cwd=here,
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def environment(plugin_versions: dict[str, Any]) -> dict[str, Any]:
    import numpy
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "plugins": plugin_versions,
        "git_commit": git_commit(),
        "argv": [Path(sys.argv[0]).name] + sys.argv[1:],
    }


def document(config: dict[str, Any], env: dict[str, Any], cells: list[dict[str, Any]],
             version: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "memcompare_version": version,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": config,
        "environment": env,
        "cells": cells,
    }


_TIMELINE = "@@timeline@@"
_CELLS = "@@cells@@"


def dump_cell(cell: dict[str, Any]) -> str:
    """One cell as :func:`dumps` writes it inside the document (indented to its depth), so that
    a writer that saves after every cell renders each cell once, not once per save."""
    timeline = None
    if cell.get("timeline"):
        timeline = json.dumps(cell["timeline"], separators=(",", ":"), allow_nan=False)
        cell = {**cell, "timeline": _TIMELINE}
    text = json.dumps(cell, indent=1, allow_nan=False).replace("\n", "\n  ")
    if timeline is not None:
        text = text.replace(f'"{_TIMELINE}"', timeline, 1)
    return text


def dumps(doc: dict[str, Any], cell_texts: list[str] | None = None) -> str:
    """Indented JSON, except each cell's timeline, which is one compact line (thousands of
    points would otherwise take four lines each). ``cell_texts``: the cells already rendered
    by :func:`dump_cell`, in order."""
    cells = doc.get("cells", [])
    if not cells:
        return json.dumps({**doc, "cells": cells}, indent=1, allow_nan=False) + "\n"
    if cell_texts is None:
        cell_texts = [dump_cell(c) for c in cells]
    head, tail = json.dumps({**doc, "cells": _CELLS}, indent=1,
                            allow_nan=False).rsplit(f'"{_CELLS}"', 1)
    return "".join((head, "[\n  ", ",\n  ".join(cell_texts), "\n ]", tail, "\n"))


class Renderer:
    """:func:`dumps` for a document saved again and again as cells are added: each cell object
    is rendered once (the runner never changes a cell once it is in the document)."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[dict[str, Any], str]] = {}

    def cell(self, cell: dict[str, Any]) -> str:
        hit = self._memo.get(id(cell))
        if hit is None or hit[0] is not cell:
            hit = self._memo[id(cell)] = (cell, dump_cell(cell))
        return hit[1]

    def dumps(self, doc: dict[str, Any]) -> str:
        return dumps(doc, [self.cell(c) for c in doc.get("cells", [])])


def read(path: Path) -> dict[str, Any]:
    """Read a results file, checking its format and version."""
    from .errors import ConfigError
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a memcompare results file (format {FORMAT!r} expected)")
    if doc.get("version") != VERSION:
        raise ConfigError(f"{path}: results format version {doc.get('version')!r}; this "
                          f"memcompare reads version {VERSION}")
    problem = _check_cells(doc)
    if problem:
        raise ConfigError(f"{path}: {problem} (docs/design.md §6)")
    return doc


#: every cell's keys and their JSON types, as the runner writes them (docs/design.md §6)
CELL_KEYS = {"model": str, "model_params": dict, "workload": str, "workload_params": dict,
             "repeat": int, "trace": dict, "status": str}


def _check_cells(doc: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a results document's cells (a hand-edited or truncated
    file), or None."""
    cells = doc.get("cells")
    if not isinstance(cells, list):
        return f"cells: must be a list of cells, got {type(cells).__name__}"
    for i, c in enumerate(cells):
        if not isinstance(c, dict):
            return f"cells[{i}]: must be an object, got {type(c).__name__}"
        for key, tp in CELL_KEYS.items():
            if not isinstance(c.get(key), tp) or (tp is int and isinstance(c.get(key), bool)):
                kind = {str: "a string", dict: "an object", int: "an integer"}[tp]
                return (f"cells[{i}].{key}: must be {kind}"
                        f"{'' if key in c else ', and is missing'}")
        for key in ("sha256", "events", "objects"):
            if key not in c["trace"]:
                return f"cells[{i}].trace.{key}: missing"
        if c["status"] == "ok" and not isinstance(c.get("metrics"), dict):
            return f"cells[{i}].metrics: an ok cell needs its metrics object"
        if c.get("metrics") is not None and not isinstance(c["metrics"], dict):
            return f"cells[{i}].metrics: must be an object or null"
    return None


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value


def to_csv(cells: list[dict[str, Any]]) -> str:
    """One row per cell: identity, params as ``model.<name>`` / ``workload.<name>`` columns,
    then every metric (``mmu.0.01``, ``gc_counts.minor``)."""
    rows = []
    for c in cells:
        row: dict[str, Any] = {"model": c["model"], "workload": c["workload"],
                               "repeat": c["repeat"], "status": c["status"],
                               "trace_sha256": c["trace"]["sha256"]}
        flatten("model", c["model_params"], row)
        flatten("costs", c.get("model_costs", {}), row)
        flatten("workload", c["workload_params"], row)
        flatten("", c.get("metrics") or {}, row)
        row["error"] = c.get("error") or ""
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        for k in row:
            if k not in columns:
                columns.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow(row)
    return buf.getvalue()
