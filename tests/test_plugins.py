"""The plugin host: entry points, MEMCOMPARE_LOAD_PLUGINS, validation, attribution (exit 3)."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from memcompare import Model, Workload, hookimpl, param
from memcompare.errors import PluginError
from memcompare.plugins import Plugins

BUILTIN_MODELS = {"cpp", "nogc"}
BUILTIN_WORKLOADS = {"binary-trees", "message-buffer", "lru-cache", "queue-churn",
                     "cyclic-garbage", "fragmentation", "large-objects"}


def test_builtins_come_through_the_entry_point_group():
    p = Plugins()
    assert BUILTIN_MODELS <= set(p.models())
    assert BUILTIN_WORKLOADS <= set(p.workloads())
    for e in list(p.models().values()) + list(p.workloads().values()):
        assert e.distribution == "memcompare", e      # declared in pyproject.toml
        assert e.summary, f"{e.name} has no docstring"


def test_suite_loads_no_third_party_plugins():
    assert os.environ["MEMCOMPARE_LOAD_PLUGINS"] == ""
    p = Plugins()
    assert {d for d, _ in p._dists.values()} == {"memcompare"}


@dataclasses.dataclass(frozen=True)
class _P:
    n: int = param(1, "a number", minimum=0)


class Good(Model):
    """A model that holds everything."""

    name = "good"
    Params = _P

    def run(self, trace, out):
        self.n = trace.objects

    def held(self):
        return np.arange(self.n), np.zeros(self.n, np.int64)


class _Plugin:
    def __init__(self, *classes):
        self.classes = classes

    @hookimpl
    def register_models(self, register):
        for c in self.classes:
            register(c)


def test_register_models_hook_adds_a_model():
    p = Plugins()
    p.register(_Plugin(Good), "good-plugin")
    assert p.models()["good"].plugin == "good-plugin"


def test_register_workloads_hook_adds_a_workload():
    class W(Workload):
        """One object."""

        name = "one"

        def record(self, params, t, rng):
            t.free(t.alloc(8))

    class Plug:
        @hookimpl
        def register_workloads(self, register):
            register(W)

    p = Plugins()
    p.register(Plug(), "w-plugin")
    assert p.workloads()["one"].cls is W


def test_duplicate_name_names_both_plugins():
    class NoGC(Good):
        """Another nogc."""

        name = "nogc"

    p = Plugins()
    p.register(_Plugin(NoGC), "impostor")
    with pytest.raises(PluginError) as e:
        p.models()
    assert "impostor" in str(e.value) and "'nogc'" in str(e.value)


@pytest.mark.parametrize("bad, says", [
    (int, "not a subclass"),
    (type("NoName", (Good,), {"name": "Bad Name"}), "lower-case name"),
    (type("NoRun", (Model,), {"name": "norun"}), "does not implement run()"),
])
def test_invalid_registration_names_the_plugin(bad, says):
    p = Plugins()
    p.register(_Plugin(bad), "sloppy")
    with pytest.raises(PluginError) as e:
        p.models()
    assert "'sloppy'" in str(e.value) and says in str(e.value)


def test_unknown_hook_fails_check_pending():
    class Typo:
        @hookimpl
        def register_modles(self, register):
            pass

    p = Plugins()
    p.register(Typo(), "typo-plugin")
    with pytest.raises(PluginError) as e:
        p.check_pending()
    assert "typo-plugin" in str(e.value)


def _fake_distribution(tmp_path, body: str):
    """A third-party distribution on sys.path: dist-info metadata plus one module."""
    info = tmp_path / "fakeplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[memcompare]\nfake = fakeplug_mod\n")
    (tmp_path / "fakeplug_mod.py").write_text(textwrap.dedent(body))


def _cli(tmp_path, *args, load=None):
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env.pop("MEMCOMPARE_LOAD_PLUGINS")
    if load is not None:
        env["MEMCOMPARE_LOAD_PLUGINS"] = load
    return subprocess.run([sys.executable, "-m", "memcompare.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_a_plugin_that_fails_to_load_exits_3_naming_it(tmp_path):
    _fake_distribution(tmp_path, "raise ImportError('needs libfoo')\n")
    r = _cli(tmp_path, "list", "models")
    assert r.returncode == 3, r.stderr
    assert "'fake'" in r.stderr and "fakeplug" in r.stderr and "libfoo" in r.stderr
    assert "Traceback" not in r.stderr


def test_load_plugins_variable_limits_third_party_plugins(tmp_path):
    _fake_distribution(tmp_path, """
        from memcompare import hookimpl, Model
        import numpy as np
        class Fake(Model):
            '''A third-party model.'''
            name = "fake"
            def run(self, trace, out): pass
            def held(self): return np.zeros(0, np.int64), np.zeros(0, np.int64)
        @hookimpl
        def register_models(register):
            register(Fake)
        """)
    assert "fake" in _cli(tmp_path, "list", "models").stdout             # unset: all load
    assert "fake" in _cli(tmp_path, "list", "models", load="fakeplug").stdout
    shown = _cli(tmp_path, "list", "models", load="").stdout              # empty: none
    assert "fake" not in shown and "nogc" in shown                        # built-ins always


def test_a_plugin_that_registers_garbage_exits_3(tmp_path):
    _fake_distribution(tmp_path, """
        from memcompare import hookimpl
        @hookimpl
        def register_models(register):
            register("not a class")
        """)
    r = _cli(tmp_path, "list")
    assert r.returncode == 3
    assert "'fake'" in r.stderr and "invalid model" in r.stderr
