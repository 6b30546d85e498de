"""``memcompare new-plugin``: the rendered packages install, pass their own tests as generated,
show up in ``memcompare list`` and run in ``memcompare run``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from memcompare import scaffold


def _install(pkg: Path, site: Path) -> None:
    """Install a rendered package into a throwaway ``site`` directory.

    pip does it when the build backend can make a wheel (setuptools >= 70.1, or the ``wheel``
    package); with an older setuptools alone, ``egg_info`` writes the same metadata and entry
    points from the package's pyproject.toml, and the module is copied beside it.
    """
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--no-build-isolation", "--no-index", "--target", str(site), str(pkg)],
                       capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        return
    assert "bdist_wheel" in r.stdout + r.stderr, r.stdout + r.stderr
    site.mkdir(exist_ok=True)
    r = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q",
                        "egg_info", "--egg-base", str(site)], cwd=pkg, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for module in pkg.glob("memcompare_*/__init__.py"):
        shutil.copytree(module.parent, site / module.parent.name)


def _env(site: Path, dist: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(site), MEMCOMPARE_LOAD_PLUGINS=dist)
    env.pop("MEMCOMPARE_CHECK", None)
    return env


def _run(args, env, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("kind, name", [("model", "tiny-ms"), ("workload", "tiny-batches")])
def test_rendered_package_installs_tests_lists_and_runs(tmp_path, kind, name):
    pkg = scaffold.render(name, kind, tmp_path / "pkg")
    module = "memcompare_" + name.replace("-", "_")
    assert {p.relative_to(pkg).as_posix() for p in pkg.rglob("*") if p.is_file()} == {
        "pyproject.toml", "README.md", f"{module}/__init__.py", f"tests/test_{module}.py"}
    assert f'{name} = "{module}"' in (pkg / "pyproject.toml").read_text()
    site = tmp_path / "site"
    _install(pkg, site)
    env = _env(site, f"memcompare-{name}")

    # its own tests pass as generated (the model's include the whole conformance suite)
    r = _run(["-m", "pytest", str(pkg / "tests"), "-q", "-p", "no:cacheprovider"], env, pkg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("9 passed" if kind == "model" else "3 passed") in r.stdout

    listed = _run(["-m", "memcompare.cli", "list", f"{kind}s"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert f"  {name}  —" in listed.stdout and f"memcompare-{name} 0.1.0" in listed.stdout

    if kind == "model":
        cells = f'[[workload]]\nname = "queue-churn"\nparams = {{ steps = 3000 }}\n\n' \
                f'[[model]]\nname = "{name}"\nparams = {{ trigger_mb = 0.25 }}\n'
    else:
        cells = f'[[workload]]\nname = "{name}"\nparams = {{ batches = 200 }}\n\n' \
                f'[[model]]\nname = "cpp"\n'
    (tmp_path / "run.toml").write_text(f'[run]\nname = "scaffold"\n\n{cells}')
    out = tmp_path / "results"
    r = _run(["-m", "memcompare.cli", "run", "run.toml", "--out", str(out), "--jobs", "1",
              "--quiet", "--check", "full"], env, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    import json
    cell, = json.loads((out / "results.json").read_text())["cells"]
    assert cell["status"] == "ok" and cell["metrics"]["leaked_bytes"] == 0
    assert cell["model" if kind == "model" else "workload"] == name
    if kind == "model":
        # 3,000 items of 32..256 payload bytes, a 256 KiB trigger: it collects
        assert cell["metrics"]["gc_count"] >= 1


@pytest.mark.parametrize("bad, says", [
    ("Foo", "invalid plugin name 'Foo'"),
    ("2fast", "starting with a letter"),
    ("foo--bar", "single '-' or '_'"),
    ("memcompare-foo", "without the memcompare prefix"),
    ("go", "already taken by the entry point 'go'"),
])
def test_bad_names_exit_2_with_the_reason(tmp_path, capsys, bad, says):
    args = types.SimpleNamespace(name=bad, kind="model", dir=str(tmp_path / "x"))
    assert scaffold.run(args) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_refuses_to_overwrite_an_existing_directory(tmp_path, capsys):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    args = types.SimpleNamespace(name="mine", kind="workload", dir=str(target))
    assert scaffold.run(args) == 2
    assert "already exists; refusing to overwrite it" in capsys.readouterr().err
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_names_are_derived_from_the_plugin_name():
    n = scaffold.names_for("arena-pool")
    assert (n.name, n.dist, n.module, n.cls) == ("arena-pool", "memcompare-arena-pool",
                                                 "memcompare_arena_pool", "ArenaPool")


def test_default_directory_is_memcompare_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = types.SimpleNamespace(name="semi", kind="model", dir=None)
    assert scaffold.run(args) == 0
    assert (tmp_path / "memcompare-semi" / "memcompare_semi" / "__init__.py").exists()
    assert "pip install -e memcompare-semi" in capsys.readouterr().err
