"""Fuzzing the TOML config: whatever the file says, loading it gives a valid config or one
ConfigError naming the place (file:line:col for syntax, the key path for values) — never another
exception, never a hang, never a sweep that eats the memory.

Families: wrong types and shapes everywhere, extreme numbers, NaN and infinities, huge sweeps,
unicode, duplicate entries (tables and keys), and raw text. Budget: tests/fuzzing_config.py.
"""
from __future__ import annotations

import math
import re

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from memcompare import config
from memcompare import params as P
from memcompare.errors import ConfigError
from memcompare.plugins import plugins

from fuzzing_config import fuzz_settings

REG = plugins()
MODELS = {name: [f.name for f in P.fields(e.cls.Params)] for name, e in REG.models().items()
          if not e.cls.measured}
COSTS = {name: [f.name for f in P.fields(e.cls.Costs)] for name, e in REG.models().items()}
WORKLOADS = {name: [f.name for f in P.fields(e.cls.Params)]
             for name, e in REG.workloads().items()}
RUN_KEYS = list(config.RUN_KEYS)

# -- values: every TOML type, extremes, NaN and infinities, unicode -----------------------------

scalars = st.one_of(
    st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
    st.sampled_from([0, 1, -1, 2 ** 31, 2 ** 63 - 1, -(2 ** 63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 0.0, -0.0]),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["serial", "parallel", "off", "3.13", "1.22", "top-down", "full", "basic",
                     "ä", "💥", "\u202e", "x" * 300]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
#: lists that sweep: short, or (rarely) long enough to pass the sweep limit together
sweeps = st.one_of(st.lists(scalars, min_size=1, max_size=4),
                   st.lists(st.integers(1, 1000), min_size=90, max_size=120))


def keyed(names: list[str]):
    """A table of some of ``names`` (and now and then a stray key) with any value."""
    key = st.one_of(st.sampled_from(names), st.text(min_size=1, max_size=8)) if names else \
        st.text(min_size=1, max_size=8)
    return st.dictionaries(key, st.one_of(values, sweeps), max_size=4)


@st.composite
def model_table(draw):
    name = draw(st.one_of(st.sampled_from(sorted(MODELS)), values))
    t: dict = {"name": name}
    known = MODELS.get(name, []) if isinstance(name, str) else []
    if draw(st.booleans()):
        t["params"] = draw(st.one_of(keyed(known), values))
    if draw(st.integers(0, 4)) == 0:
        t["costs"] = draw(st.one_of(keyed(COSTS.get(name, []) if isinstance(name, str)
                                          else []), values))
    if draw(st.integers(0, 6)) == 0:
        t[draw(st.text(min_size=1, max_size=6))] = draw(values)
    return t


@st.composite
def workload_table(draw):
    if draw(st.integers(0, 8)) == 0:
        return {"trace": draw(values)}
    name = draw(st.one_of(st.sampled_from(sorted(WORKLOADS)), values))
    t: dict = {"name": name}
    known = WORKLOADS.get(name, []) if isinstance(name, str) else []
    if draw(st.booleans()):
        t["params"] = draw(st.one_of(keyed(known), values))
    return t


@st.composite
def near_valid(draw):
    """A valid document with at most one known parameter set to any value (or a sweep): this
    family reaches the type, range and sweep checks of real parameters."""
    models = [{"name": n} for n in draw(st.lists(st.sampled_from(sorted(MODELS)), min_size=1,
                                                 max_size=3))]
    workloads = [{"name": n} for n in draw(st.lists(st.sampled_from(sorted(WORKLOADS)),
                                                    min_size=1, max_size=2))]
    if draw(st.booleans()):
        t = draw(st.sampled_from(models + workloads))
        known = (MODELS if t in models else WORKLOADS)[t["name"]]
        if known:
            t["params"] = {draw(st.sampled_from(known)): draw(st.one_of(scalars, sweeps))}
    return {"model": models, "workload": workloads}


@st.composite
def documents(draw):
    if draw(st.integers(0, 2)) == 0:
        return draw(near_valid())
    doc: dict = {}
    if draw(st.booleans()):
        doc["run"] = draw(st.one_of(keyed(RUN_KEYS), values))
    models = draw(st.lists(model_table(), max_size=4))
    if draw(st.integers(0, 3)) == 0 and models:
        models = models + models            # duplicate entries
    workloads = draw(st.lists(workload_table(), max_size=3))
    doc["model"] = draw(st.one_of(st.just(models), values)) if draw(st.integers(0, 9)) == 0 \
        else models
    doc["workload"] = workloads
    if draw(st.integers(0, 9)) == 0:
        doc[draw(st.text(min_size=1, max_size=6))] = draw(values)
    return doc


#: outcomes per family, printed at the end of the module (``pytest -s``) for docs/reliability.md
TALLY: dict[str, dict[str, int]] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_tally():
    yield
    for family, counts in TALLY.items():
        print(f"\nconfig fuzz {family}: {sum(counts.values())} cases, "
              f"{counts.get('error', 0)} clean errors, {counts.get('ok', 0)} valid configs, "
              f"0 other exceptions")


def check(text: str, family: str = "pinned") -> str:
    """Parse ``text``: a valid config, or a ConfigError whose message names the place."""
    counts = TALLY.setdefault(family, {})
    try:
        cfg = config.parse(text, path=None)
    except ConfigError as e:
        msg = str(e)
        assert msg.startswith("<config>"), msg
        assert "\n" not in msg.split("\n    ")[0], msg     # one line (plus a quoted source)
        counts["error"] = counts.get("error", 0) + 1
        return "error"
    assert cfg.models and cfg.workloads
    assert len(cfg.cells()) >= 1
    counts["ok"] = counts.get("ok", 0) + 1
    return "ok"


@fuzz_settings(default=100)
@given(documents())
def test_structured_configs_load_or_fail_cleanly(doc):
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return                              # not representable in TOML (e.g. a None): skip
    check(text, "structured")


@fuzz_settings()
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_raw_text_loads_or_fails_cleanly(text):
    check(text, "raw text")


fragments = st.sampled_from([
    '[[model]]\nname = "cpp"\n[[workload]]\nname = "binary-trees"\n',    # a valid base
    '[[model]]\nname = "go"\nparams = { gogc = [50, 100] }\n[[workload]]\nname = "lru-cache"\n',
    "[run]\n", "[[run]]\n", "[[model]]\n", "[model]\n", "[[workload]]\n", 'name = "go"\n',
    'name = "cpp"\n', 'name = "binary-trees"\n', 'name = ["cpp", "go"]\n', "name = 1\n",
    "params = { gogc = [50, 100] }\n", "params = { heap_mb = nan }\n",
    "params = { max_depth = inf }\n", "params = { max_depth = 99999999999999999 }\n",
    "params = [1, 2]\n", "params = {}\n", "params.gogc = 50\n", "costs = \"nowhere.toml\"\n",
    "costs = { alloc_ns = -1e308 }\n", "repeats = 0\n", "seed = 1e3\n", "check = \"all\"\n",
    "heap_multiples = []\n", "heap_multiples = [0.5, -inf]\n", 'trace = ""\n',
    'trace = "\\u0000"\n', "mutator_costs = { load_ns = nan }\n", "x = 1\nx = 2\n",
    "name = \"é💥\"\n", "[[model.params]]\n", "thresholds = [[700, 10, 10], [1, 2]]\n",
    "params = { thresholds = [[700, 10, 10], [0, 0, 0]] }\n", "= 3\n", "[[\n", "\"\"\"\n",
])


@fuzz_settings()
@given(st.lists(fragments, min_size=1, max_size=12))
def test_config_fragments_load_or_fail_cleanly(parts):
    check("".join(parts), "fragments")


# -- examples the fuzzer found or that pin a family ---------------------------------------------

@pytest.mark.parametrize("text,where", [
    ('[[model]]\nname = "nogc"\nparams = { heap_mb = inf }\n[[workload]]\nname = "lru-cache"',
     "model[0].params.heap_mb: must be a finite number, got Infinity"),
    ('[[model]]\nname = "go"\nparams = { gogc = ' + str(list(range(1, 101))) +
     ", gomaxprocs = " + str(list(range(1, 101))) + ', globals_kb = [1.0, 2.0] }\n'
     '[[workload]]\nname = "lru-cache"', "the lists sweep 20,000 combinations"),
    ('[[model]]\nname = "cpp"\n[[workload]]\nname = "lru-cache"\n[[workload]]\nname = "lru-cache"',
     None),                                   # duplicate entries: a valid config
    ('x = 1\nx = 2', "<config>:2:"),          # a duplicate key: a syntax error with its line
    ("[[" * 2000, "<config>"),                # nesting beyond the parser's recursion
    # found by the long fuzz run: a name with a newline kept the message on one line
    ('[[model]]\nname = "cpp"\n[[workload]]\nname = ["\\n"]',
     'write one [[workload]] table per workload: [[workload]] name = "\\n"'),
])
def test_pinned_cases(text, where):
    if where is None:
        assert check(text) == "ok"
        return
    assert check(text) == "error"              # one line, naming the place
    with pytest.raises(ConfigError) as e:
        config.parse(text)
    assert where in str(e.value)
    assert re.match(r"<config>", str(e.value))
