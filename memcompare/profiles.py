"""Costs profiles: cost tables measured on one machine by ``memcompare calibrate`` (TOML).

A profile holds, per simulated model, the fitted entries of its cost table and the mutator cost
table of the native replayer that measured it, each with its provenance (docs/style.md §20): the
machine and runtime it was measured on, the calibration trace it is best determined by, and the
fit's residual. A config loads one per model (``costs = "profile.toml"``, ``mutator_costs =
"profile.toml"``) or for every model (``memcompare run --costs PROFILE``).

The format (version 1)::

    [profile]
    format = "memcompare-costs-profile"
    version = 1
    created_utc = "…"
    memcompare_version = "…"
    command = "memcompare calibrate …"
    machine = { platform = "…", processor = "…", cores = 2, memory_gib = 23.4 }

    [models.go]
    twin = "go-native"
    runtime = "go1.19.8"
    costs = { mark_object_ns = 14.2, … }      # the model's Costs fields (fitted or default)
    mutator = { load_ns = 2.1, … }            # the replayer's own per-event costs
    fit = { mark_object_ns = { default = 20.0, status = "fitted", source = "…",
                               residual = 0.04 }, … }
    traces = [ { name = "…", events = 1, measured_s = 0.1, model_s = 0.1, residual = 0.0 } ]

Loading checks the shape and names every problem with the profile's path and key path. This
module runs nothing.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

FORMAT = "memcompare-costs-profile"
VERSION = 1


@dataclass(frozen=True)
class Profile:
    """A loaded costs profile."""

    path: Path
    sha256: str
    doc: dict[str, Any]

    @property
    def models(self) -> list[str]:
        return sorted(self.doc.get("models", {}))

    def provenance(self) -> dict[str, Any]:
        """What a results cell records about the profile it used."""
        prof = self.doc.get("profile", {})
        return {"file": self.path.name, "sha256": self.sha256,
                "created_utc": prof.get("created_utc"), "machine": prof.get("machine")}

    def section(self, model: str, part: str, where: str) -> dict[str, Any]:
        """``[models.<model>.<part>]`` (``costs`` or ``mutator``); a clear error when absent."""
        models = self.doc.get("models", {})
        if model not in models:
            have = ", ".join(self.models) or "none"
            raise ConfigError(f"{where}: the costs profile {self.path.name} has no model "
                              f"{model!r} (it has: {have}); run `memcompare calibrate "
                              f"--models {model}` to measure it")
        table = models[model].get(part)
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: the costs profile {self.path.name} has no "
                              f"models.{model}.{part} table")
        return dict(table)


def load(path: str | Path, where: str = "costs") -> Profile:
    """Read and check a costs profile; ``where`` names the config key that asked for it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{where}: cannot read the costs profile {str(path)!r}: "
                          f"{e.strerror or e}") from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: {path}: a costs profile must be UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: {path}: not valid TOML: {e}") from None
    prof = doc.get("profile")
    if not isinstance(prof, dict) or prof.get("format") != FORMAT:
        raise ConfigError(f"{where}: {path}: not a memcompare costs profile (profile.format "
                          f"must be {FORMAT!r}; write one with `memcompare calibrate`)")
    if prof.get("version") != VERSION:
        raise ConfigError(f"{where}: {path}: profile.version {prof.get('version')!r} is not "
                          f"supported (this memcompare reads version {VERSION})")
    models = doc.get("models", {})
    if not isinstance(models, dict):
        raise ConfigError(f"{where}: {path}: models must be a table of models")
    return Profile(path, hashlib.sha256(data).hexdigest(), doc)


def dumps(doc: dict[str, Any]) -> str:
    """A profile document as TOML text (tomli-w), with a header comment."""
    import tomli_w
    head = ("# A memcompare costs profile: cost tables measured on one machine by "
            "`memcompare calibrate`.\n# Load it with costs = \"<this file>\" in a [[model]], or "
            "`memcompare run CONFIG --costs <this file>`.\n\n")
    return head + tomli_w.dumps(doc)
