"""Every hook is documented and tested (datasette's tests/test_docs.py): adding a hook to
memcompare/hookspecs.py without a section in docs/plugins.md or a test fails here."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from memcompare import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name, f in vars(hookspecs).items()
               if callable(f) and hasattr(f, "memcompare_spec"))


def test_the_hooks_are_found():
    assert HOOKS == ["register_models", "register_workloads"]


@pytest.fixture(scope="module")
def plugin_docs():
    return (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_docs_section(plugin_docs, hook):
    sections = re.findall(r"^## (\w+)\s*$", plugin_docs, flags=re.M)
    assert hook in sections, f"docs/plugins.md needs a '## {hook}' section"
    body = plugin_docs.split(f"## {hook}\n", 1)[1].split("\n## ", 1)[0]
    assert f"def {hook}(" in body, f"the '## {hook}' section needs its signature and an example"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = (ROOT / "tests" / "test_plugins.py").read_text(encoding="utf-8")
    assert re.search(rf"def test_{hook}\w*\(", tests), \
        f"tests/test_plugins.py needs a test named test_{hook}..."


# -- the design contract and the runtime facts are the project's own documents ----------------

SOURCES = [p for pattern in ("memcompare/**/*.py", "plugins/**/*.py", "docs/*.md", "*.md",
                             "configs/*.toml", "tests/*.py", "examples/**/*.py")
           for p in ROOT.glob(pattern) if ".venv" not in p.parts]


def _headings(doc: str) -> set[str]:
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    return set(re.findall(r"^#{2,4} (\d+(?:\.\d+)*)[. ]", text, flags=re.M))


def test_design_and_runtime_references_resolve():
    """Every ``docs/design.md §N`` / ``docs/runtimes.md §N.M`` names a section that exists."""
    sections = {"design.md": _headings("design.md"), "runtimes.md": _headings("runtimes.md")}
    assert {"1", "4", "7"} <= sections["design.md"]
    assert {"1.2", "3.3", "5.3"} <= sections["runtimes.md"]
    refs = 0
    bad = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"docs/(design|runtimes)\.md((?:,? §\d+(?:\.\d+)*)+)", text):
            for sec in re.findall(r"§(\d+(?:\.\d+)*)", m.group(2)):
                refs += 1
                if sec not in sections[f"{m.group(1)}.md"]:
                    bad.append(f"{path.relative_to(ROOT)}: docs/{m.group(1)}.md §{sec}")
    assert refs > 20
    assert not bad, "references to sections that do not exist:\n" + "\n".join(bad)


def test_no_reference_to_documents_outside_the_repository():
    stale = [str(p.relative_to(ROOT)) for p in SOURCES
             if re.search(r"(?<![\w/])(DESIGN\.md|reference/runtimes\.md)",
                          p.read_text(encoding="utf-8"))]
    assert not stale, f"these cite documents that are not in the repository: {stale}"


# -- the README's plugin example works as written ---------------------------------------------

def _readme_block(lang: str, first_line: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)
    found = [b for b in blocks if b.startswith(first_line)]
    assert len(found) == 1, f"README.md: one ```{lang} block starting {first_line!r}"
    return found[0]


def test_readme_plugin_example_registers_and_frees_what_it_allocates():
    import sys
    import types

    try:
        import tomllib
    except ImportError:             # Python 3.10
        import tomli as tomllib

    from memcompare import replay
    from memcompare.api import record_entry
    from memcompare.plugins import Plugins

    source = _readme_block("python", "# memcompare_pairs.py")
    module = types.ModuleType("memcompare_pairs")
    exec(compile(source, "README.md:memcompare_pairs.py", "exec"), module.__dict__)
    # the entry point names that module in the memcompare group
    project = tomllib.loads(_readme_block("toml", "[project]"))
    assert project["project"]["entry-points"]["memcompare"] == {"pairs": "memcompare_pairs"}
    registry = Plugins()
    registry.register(module, "memcompare-pairs")
    entry = registry.workload("pairs", "workload")
    trace = record_entry(entry, entry.cls.Params())
    # 1000 pairs: 2,000 allocations of 16 + 8 and 16 bytes, each freed
    assert trace.objects == 2000
    assert sys.modules.get("memcompare_pairs") is None
    for model in ("cpp", "nogc", "go", "jvm", "cpython"):
        result = replay(trace, model)
        assert result.status == "ok", model
        if model != "nogc":         # nogc never reclaims: it holds everything by design
            assert result.metrics["leaked_bytes"] == 0, model
    cpp = replay(trace, "cpp")
    assert cpp.metrics["live_peak_bytes"] == 16 + 8 + 16
