"""The published numbers are reproducible: re-running configs/quick.toml gives results/quick/
byte for byte, provenance (time, environment) excepted. A change that moves the numbers must
regenerate results/ on purpose (see results/README.md)."""
from __future__ import annotations

import json
from pathlib import Path

from memcompare import config, runner

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "results" / "quick"
PROVENANCE = ("created_utc", "environment")


def test_quick_reproduces_the_published_results(tmp_path):
    out = runner.run(config.load(ROOT / "configs" / "quick.toml"), tmp_path, jobs=2)
    assert not out.failed
    fresh = json.loads((tmp_path / "results.json").read_text())
    published = json.loads((PUBLISHED / "results.json").read_text())
    for key in PROVENANCE:
        fresh.pop(key)
        published.pop(key)
    assert [c["model"] + " on " + c["workload"] for c in fresh["cells"]] == \
        [c["model"] + " on " + c["workload"] for c in published["cells"]]
    for new, old in zip(fresh["cells"], published["cells"]):
        where = f"{new['model']} on {new['workload']}"
        assert new["trace"] == old["trace"], f"{where}: the trace changed"
        assert json.dumps(new["metrics"]) == json.dumps(old["metrics"]), f"{where}: metrics"
        assert json.dumps(new) == json.dumps(old), f"{where}: stats or timeline"
    assert json.dumps(fresh) == json.dumps(published)
    for name in ("results.csv", "tables.md"):
        assert (tmp_path / name).read_bytes() == (PUBLISHED / name).read_bytes(), name
