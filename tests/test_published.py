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


def test_quick_figures_reproduce_the_published_pngs(tmp_path):
    """The figures are pure functions of results.json: drawn again from the published results
    (which the test above re-runs), one workload's figures and the throughput figure equal the
    committed PNGs byte for byte. (All 22 take ~15 s; `memcompare report results/quick` and
    `git status` check the rest.)"""
    from memcompare import plots
    from memcompare.results import read
    doc = read(PUBLISHED / "results.json")
    p = plots.plan(doc["cells"])
    title, cells = next(iter(p.groups.items()))
    drawn = []
    with plots._style():
        for kind, draw in (("footprint", plots.footprint_figure),
                           ("pauses", plots.pauses_figure), ("mmu", plots.mmu_figure)):
            f = draw(p, title, cells, tmp_path, f"{kind}-{plots.slug(title)}")
            drawn.append(f.stem)
        drawn.append(plots.throughput_figure(p, tmp_path, "throughput-footprint").stem)
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(f"{s}.png" for s in drawn)
    for stem in drawn:
        assert (tmp_path / f"{stem}.png").read_bytes() == \
            (PUBLISHED / "figures" / f"{stem}.png").read_bytes(), stem
    published = sorted(x.name for x in (PUBLISHED / "figures").iterdir())
    assert published and all(name.endswith(".png") for name in published)   # PNG only


def test_published_results_stay_small():
    """results/ is committed and every regeneration adds to the history: PNG figures only (no
    SVG copies, no HTML report embedding them again), under 15 MB in all."""
    files = [p for p in (ROOT / "results").rglob("*") if p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)]
    assert not [p for p in files if p.suffix in (".svg", ".html")]
    assert sum(p.stat().st_size for p in files) < 15_000_000
