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
