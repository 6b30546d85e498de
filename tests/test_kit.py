"""The test kit fails, with a message naming the check, on a model broken in each way it checks:
safety, determinism, completeness, metric sanity — and passes a correct model."""
from __future__ import annotations

import itertools
import textwrap

import numpy as np
import pytest

import memcompare
from memcompare import Model, hookimpl
from memcompare.errors import OutOfMemory
from memcompare.plugins import plugins
from memcompare.testing import check_case, check_metrics

pytest_plugins = ["pytester"]

Failed = pytest.fail.Exception


class Keeper(Model):
    """Correct and minimal: reclaims nothing during the run, everything dead at the end."""

    name = "keeper"

    def run(self, trace, out):
        self.trace = trace
        out.allocated_bytes = int(trace.obj_bytes.sum())
        out.footprint(0, out.allocated_bytes)

    def held(self):
        ids = np.flatnonzero(self.trace.reachable_at_end())
        return ids, self.trace.obj_bytes[ids]


class Unsafe(Keeper):
    """Reclaims every object allocated so far, halfway through: reachable ones included."""

    name = "unsafe"

    def run(self, trace, out):
        super().run(trace, out)
        half = trace.events // 2
        self.gone = np.flatnonzero(trace.obj_alloc_at <= half)
        out.collection("full", half, self.gone)

    def held(self):
        ids, nbytes = super().held()
        keep = ~np.isin(ids, self.gone)
        return ids[keep], nbytes[keep]


_runs = itertools.count()


class Moody(Keeper):
    """Nondeterministic: its allocation cost changes from one replay to the next."""

    name = "moody"

    def run(self, trace, out):
        super().run(trace, out)
        mm = np.zeros(trace.events)
        mm[trace.obj_alloc_at] = 10.0 + next(_runs)
        out.mm_ns = mm


class Hoarder(Keeper):
    """Never reclaims, yet keeps the default reclaims = True."""

    name = "hoarder"

    def held(self):
        return np.arange(self.trace.objects), self.trace.obj_bytes


class HonestHoarder(Hoarder):
    """Never reclaims, and says so."""

    name = "honest-hoarder"
    reclaims = False


class TimeTraveller(Keeper):
    """Reports a pause of negative length before event 0."""

    name = "time-traveller"

    def run(self, trace, out):
        super().run(trace, out)
        out.pause(0, -500.0, "bogus")


class Greedy(Keeper):
    """Runs out of memory although it has no heap limit."""

    name = "greedy"

    def run(self, trace, out):
        raise OutOfMemory("no memory left", index=0)


class Broken:
    @hookimpl
    def register_models(self, register):
        for cls in (Keeper, Unsafe, Moody, Hoarder, HonestHoarder, TimeTraveller, Greedy):
            register(cls)


@pytest.fixture
def broken(register_plugin):
    return register_plugin(Broken(), "broken-models")


def test_register_plugin_adds_models_for_one_test(broken):
    assert broken is plugins()
    assert {"keeper", "unsafe", "cpp"} <= set(broken.models())    # built-ins stay


def test_register_plugin_restored_the_previous_set():
    assert "keeper" not in plugins().models()


def test_a_correct_model_passes(broken):
    for case in ("cycles", "live-at-end", "empty", "huge-objects"):
        check_case("keeper", case)


def test_reclaiming_a_reachable_object_fails_safety(broken):
    with pytest.raises(Failed) as e:
        check_case("unsafe", "live-at-end")
    msg = str(e.value)
    assert "safety failed for model 'unsafe' on tricky trace 'live-at-end'" in msg
    assert "reclaimed object" in msg


def test_different_metrics_twice_fail_determinism(broken):
    with pytest.raises(Failed) as e:
        check_case("moody", "cycles")
    msg = str(e.value)
    assert "determinism failed for model 'moody'" in msg and "wall_time_s" in msg


def test_holding_garbage_with_reclaims_true_fails_completeness(broken):
    with pytest.raises(Failed) as e:
        check_case("hoarder", "cycles")
    msg = str(e.value)
    assert "completeness failed for model 'hoarder'" in msg and "leaked_bytes = " in msg
    assert "reclaims = False" in msg                     # says how to declare it
    check_case("honest-hoarder", "cycles")               # declared: allowed


def test_a_negative_pause_fails_metric_sanity(broken):
    with pytest.raises(Failed) as e:
        check_case("time-traveller", "live-at-end")
    msg = str(e.value)
    assert "metric sanity failed for model 'time-traveller'" in msg
    assert ": must be a number >= 0" in msg               # a negative fraction or time


def test_oom_without_a_heap_limit_fails_and_with_one_passes(broken):
    check_case("nogc", "huge-objects", params={"heap_mb": 8})   # a limit set: oom is a result
    with pytest.raises(Failed) as e:
        check_case("greedy", "cycles")
    assert "status failed for model 'greedy'" in str(e.value)
    assert "no heap limit set" in str(e.value)


@pytest.fixture(scope="module")
def good_metrics():
    r = memcompare.replay(memcompare.record("queue-churn", steps=2000), "go", check="full")
    assert r.status == "ok"
    return r.metrics


def _bogus(metrics, key, value):
    m = dict(metrics)
    if "." in key:
        outer, inner = key.split(".", 1)
        m[outer] = dict(m[outer], **{inner: value})
    elif value is None:
        del m[key]
    else:
        m[key] = value
    return m


@pytest.mark.parametrize("key, value, says", [
    ("footprint_mean_bytes", 10 ** 12, "exceeds footprint_peak_bytes"),
    ("pause_p50_s", 1.0, "p50 <= p95 <= p99 <= max"),
    ("mmu.0.1", 0.0, "MMU must not decrease"),
    ("mmu.0.001", 1.5, "MMU must lie in [0, 1]"),
    ("cpu_time_s", 0.0, "exceeds cpu_time_s"),
    ("gc_count", 999, "gc_counts"),
    ("max_stall_s", None, "missing metric key(s) ['max_stall_s']"),
])
def test_nonsense_metrics_fail_metric_sanity(good_metrics, key, value, says):
    check_metrics(good_metrics, case="queue-churn", model="go")       # the original passes
    with pytest.raises(Failed) as e:
        check_metrics(_bogus(good_metrics, key, value), case="queue-churn", model="go")
    assert "metric sanity failed for model 'go'" in str(e.value)
    assert says in str(e.value)


def test_an_unregistered_model_says_how_to_install_it():
    with pytest.raises(Failed) as e:
        check_case("no-such-model", "empty")
    assert "is not registered" in str(e.value) and "pip install -e ." in str(e.value)


def test_one_line_conformance_reports_each_broken_case(pytester):
    """The way an author uses the kit: a generated test module, run by pytest."""
    pytester.makepyfile(test_broken=textwrap.dedent("""
        import pytest
        from memcompare.testing import conformance
        from tests_kit_models import Broken

        @pytest.fixture(autouse=True)
        def _models(register_plugin):
            register_plugin(Broken(), "broken-models")

        test_keeper = conformance("keeper")
        test_unsafe = conformance("unsafe")
        test_moody = conformance("moody")
        """))
    pytester.syspathinsert()
    pytester.makepyfile(tests_kit_models=_MODELS_SOURCE)
    r = pytester.runpytest("-p", "no:cacheprovider", "-k", "live-at-end or empty or cycles")
    # keeper passes on all three; unsafe fails on the two traces it can break (empty has no
    # events to reclaim after); moody fails on the two with allocations
    r.assert_outcomes(passed=3 + 1 + 1, failed=2 + 2)
    out = r.stdout.str()
    assert "safety failed for model 'unsafe' on tricky trace 'live-at-end'" in out
    assert "determinism failed for model 'moody' on tricky trace 'cycles'" in out
    assert "Traceback" not in out                      # clear messages, not stack dumps


_MODELS_SOURCE = textwrap.dedent('''
    import itertools
    import numpy as np
    from memcompare import Model, hookimpl

    class Keeper(Model):
        """Correct: everything dead is reclaimed by the final collection."""
        name = "keeper"
        def run(self, trace, out):
            self.trace = trace
            out.allocated_bytes = int(trace.obj_bytes.sum())
            out.footprint(0, out.allocated_bytes)
        def held(self):
            ids = np.flatnonzero(self.trace.reachable_at_end())
            return ids, self.trace.obj_bytes[ids]

    class Unsafe(Keeper):
        """Reclaims everything allocated by halfway."""
        name = "unsafe"
        def run(self, trace, out):
            super().run(trace, out)
            half = trace.events // 2
            self.gone = np.flatnonzero(trace.obj_alloc_at <= half)
            out.collection("full", half, self.gone)
        def held(self):
            ids, nbytes = super().held()
            keep = ~np.isin(ids, self.gone)
            return ids[keep], nbytes[keep]

    _runs = itertools.count()

    class Moody(Keeper):
        """Nondeterministic."""
        name = "moody"
        def run(self, trace, out):
            super().run(trace, out)
            mm = np.zeros(trace.events)
            mm[trace.obj_alloc_at] = 10.0 + next(_runs)
            out.mm_ns = mm

    class Broken:
        @hookimpl
        def register_models(self, register):
            for cls in (Keeper, Unsafe, Moody):
                register(cls)
    ''')
