"""Process plumbing shared by the runner's workers and the native replayers: a child that dies
with its parent, and the name of the signal that ended a process.

Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``, prctl(2)) kills a child as soon as the
thread that forked it exits, however that happens (``kill -9`` included); elsewhere, and as a
second line, the runner's workers also watch a pipe whose only writer is the parent.
This module knows nothing about runs, cells or models.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1        # <linux/prctl.h>


def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; a no-op elsewhere).

    ``parent_pid``: the parent as the caller knew it before forking; if it is already gone (it
    died between the fork and this call, so no signal will come), exit at once.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except OSError:
            pass
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def preexec_die_with_parent() -> None:
    """``subprocess.Popen(preexec_fn=...)`` for a replayer: it dies with the worker that runs it
    (and the worker dies with the run), so no replayer outlives a killed run."""
    die_with_parent()


def watch_pipe(fd: int) -> None:
    """End this process when ``fd`` (the read end of a pipe whose only writer is the parent)
    reaches end of file — the parent has died — even if no parent-death signal exists here."""
    def watch() -> None:
        while True:
            try:
                if os.read(fd, 1) == b"":
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="memcompare-parent-watch", daemon=True).start()


def signal_name(number: int) -> str:
    """``SIGSEGV`` for 11; ``signal 64`` for a number without a name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe_exit(returncode: int) -> str:
    """How a process ended, from its return code (negative: the signal that killed it)."""
    if returncode < 0:
        name = signal_name(-returncode)
        return f"killed by {name}" + (" — out of memory?" if name == "SIGKILL" else "")
    return f"exited with status {returncode}"
