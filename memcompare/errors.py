"""The exceptions memcompare raises for people, and the exit code each maps to (docs/design.md §7).

Every error here carries a message that says what was wrong, where, and what would be right.
A bug is not one of these: it surfaces as an ordinary exception and, inside a cell, as
``status: error`` with the traceback's last line.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_CELL_FAILED = 1
EXIT_USAGE = 2
EXIT_PLUGIN = 3


class MemcompareError(Exception):
    """Base class: an error meant to be shown to a person, with an exit code."""

    exit_code = EXIT_USAGE


class ConfigError(MemcompareError):
    """A bad run configuration or parameter value: names the file and the key path."""

    exit_code = EXIT_USAGE


class TraceError(MemcompareError):
    """An invalid trace: names the event index (and the line, for the text form)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, index: int | None = None, line: int | None = None,
                 source: str | None = None):
        self.index = index
        self.line = line
        self.source = source
        self.reason = message
        self._kwargs = {"index": index, "line": line, "source": source}
        where = []
        if source:
            where.append(source if line is None else f"{source}:{line}")
        elif line is not None:
            where.append(f"line {line}")
        if index is not None:
            where.append(f"event {index}")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)

    def __reduce__(self):
        return (_rebuild, (type(self), self.reason, self._kwargs))


class TraceFormatError(MemcompareError):
    """A trace file that cannot be read: truncated, corrupted, or not a trace. Names the offset."""

    exit_code = EXIT_USAGE


class PluginError(MemcompareError):
    """A plugin that failed to load or registered something invalid: names the plugin."""

    exit_code = EXIT_PLUGIN


class SafetyError(MemcompareError):
    """A model reclaimed an object the program could still reach (docs/design.md §4, safety oracle)."""

    exit_code = EXIT_CELL_FAILED

    def __init__(self, message: str, *, object_id: int, index: int):
        self.object_id = object_id
        self.index = index
        super().__init__(message)

    def __reduce__(self):       # keyword-only arguments: pickle (process pools) needs help
        return (_rebuild, (type(self), str(self), {"object_id": self.object_id,
                                                   "index": self.index}))


class Unavailable(Exception):
    """Raised by a model that needs something absent (a toolchain): the cell ends with status
    ``unavailable`` and this message, which says exactly what to install; the run goes on."""


class OutOfMemory(Exception):
    """Raised by a model that runs out of its configured memory: the cell ends with status ``oom``.

    Not an error: it is the outcome the real runtime would have. ``index`` is the event at which
    the model gave up, ``message`` says how much it needed and had.
    """

    def __init__(self, message: str, *, index: int):
        self.index = index
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild, (type(self), str(self), {"index": self.index}))


def _rebuild(cls, message, kwargs):
    return cls(message, **kwargs)
