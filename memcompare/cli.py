"""The ``memcompare`` command line (docs/design.md §7): data on stdout, people's messages on stderr.

Exit codes: 0 ok; 1 a cell failed; 2 usage or configuration error; 3 a plugin failed to load.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from . import __version__, report, scaffold
from .errors import EXIT_CELL_FAILED, EXIT_OK, EXIT_USAGE, ConfigError, MemcompareError

EPILOG = """\
examples:
  memcompare run configs/quick.toml              run a comparison, print its tables
  memcompare list models                         what models exist, with their parameters
  memcompare trace record binary-trees --param max_depth=8 -o bt.mctrace
  memcompare trace show bt.mctrace --limit 20
  memcompare trace import --from tracefilesim run.trace -o run.mctrace --oracle reachability
  memcompare report results/quick --format html  tables and figures from a results file
  memcompare compare results/old results/new    what changed between two runs
  memcompare calibrate -o profile.toml           fit the models' costs to this machine
  memcompare new-plugin semispace --kind model  a plugin package skeleton with its tests

exit codes: 0 ok, 1 a cell failed, 2 usage or configuration error, 3 a plugin failed to load
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):          # usage errors exit 2, with the usage line
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="memcompare",
                description="Compare memory management across languages: replay one trace "
                            "under Go, JVM, CPython and C++ memory models on a simulated clock.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"memcompare {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser("run", help="run the matrix a TOML config describes",
                       description="Run every (model, workload) cell of CONFIG, print the "
                                   "comparison tables, and write results.json, results.csv and "
                                   "tables.md into the results directory. Re-running into the "
                                   "same directory reuses finished cells.")
    r.add_argument("config", metavar="CONFIG.toml", help="the run configuration "
                   "(see docs/configuration.md)")
    r.add_argument("--out", metavar="DIR", help="results directory (default: results/<run.name>/)")
    r.add_argument("--jobs", "-j", type=int, metavar="N",
                   help="cells to run in parallel (default: the number of CPUs)")
    r.add_argument("--check", choices=("basic", "full"),
                   help="safety oracle level (default: the config's run.check, else basic)")
    r.add_argument("--costs", metavar="PROFILE",
                   help="a costs profile (`memcompare calibrate`): every model it has takes its "
                        "cost table from it, unless its [[model]] sets costs")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")

    ls = sub.add_parser("list", help="registered models and workloads with their parameters",
                        description="Every registered model and workload, the plugin it comes "
                                    "from, its parameters with types, defaults and docs.")
    ls.add_argument("what", nargs="?", choices=("models", "workloads"),
                    help="only models or only workloads")
    ls.add_argument("--json", action="store_true", help="machine-readable output")

    cp = sub.add_parser("compare", help="cell-by-cell change of every metric between two runs",
                        description="Match the cells of two results files by model, params "
                                    "and workload; print every metric's two values and the "
                                    "change. Exit 1 when a metric got worse by more than the "
                                    "threshold (higher is worse for times, pauses, stalls and "
                                    "footprint; lower is worse for throughput and MMU).")
    cp.add_argument("a", metavar="A", help="the baseline results.json (or its directory)")
    cp.add_argument("b", metavar="B", help="the results.json to compare (or its directory)")
    cp.add_argument("--threshold", type=float, default=5.0, metavar="PCT",
                    help="percent change that counts as worse (default: 5)")

    t = sub.add_parser("trace", help="record and inspect trace files",
                       description="Record a workload's trace to a file, or show a trace file.")
    tsub = t.add_subparsers(dest="trace_command", metavar="SUBCOMMAND", parser_class=_Parser)
    rec = tsub.add_parser("record", help="record a workload's trace to a file",
                          description="Record WORKLOAD with its parameters to FILE (the text "
                                      "form when FILE ends in .txt, binary otherwise).")
    rec.add_argument("workload", help="a registered workload (see `memcompare list workloads`)")
    rec.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                     help="a workload parameter; VALUE is read as TOML (8, 1.5, true, \"x\")")
    rec.add_argument("--seed", type=int, help="seed for workloads that take one")
    rec.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write")
    show = tsub.add_parser("show", help="print a trace file's header and events as text",
                           description="Print FILE's header (workload, counts, sha256) and its "
                                       "events in the text form.")
    show.add_argument("file", help="a trace file (binary or .txt)")
    show.add_argument("--limit", "-n", type=int, metavar="N", help="show only the first N events")
    from .importers import add_import_parser, add_oracle_option
    add_oracle_option(rec)
    add_import_parser(tsub)
    report.add_parser(sub)
    scaffold.add_parser(sub)
    from . import calibrate
    calibrate.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "report":
            return report.run(args)
        if args.command == "new-plugin":
            return scaffold.run(args)
        if args.command == "calibrate":
            from . import calibrate
            return calibrate.run(args)
        if args.command == "trace":
            if args.trace_command is None:
                parser.parse_args(["trace", "--help"])
            return cmd_trace(args)
    except MemcompareError as e:
        print(f"memcompare: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("memcompare: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    return EXIT_USAGE


def cmd_run(args) -> int:
    from . import config as C
    from .runner import default_jobs, progress_for, run
    from .tables import markdown
    cfg = C.load(args.config, costs_profile=args.costs)
    if args.check:
        from dataclasses import replace
        cfg = replace(cfg, check=args.check)
    out = Path(args.out) if args.out else Path("results") / cfg.name
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        raise ConfigError(f"--jobs: must be >= 1, got {jobs}")
    progress = progress_for(args.quiet)
    try:
        outcome = run(cfg, out, jobs=jobs, progress=progress)
    except KeyboardInterrupt:
        print(f"memcompare: interrupted; finished cells are saved in {out}/results.json — "
              f"run the same command again to resume", file=sys.stderr)
        return 130
    print(markdown(outcome.cells, f"memcompare run {cfg.name}"))
    if not args.quiet:
        print(f"results: {out}/ ({outcome.computed} cell(s) run, {outcome.reused} reused)",
              file=sys.stderr)
    if outcome.failed:
        print(f"memcompare: {len(outcome.failed)} cell(s) failed; see the errors above and in "
              f"{out}/results.json", file=sys.stderr)
        return EXIT_CELL_FAILED
    return EXIT_OK


def _results_path(path: str) -> Path:
    p = Path(path)
    return p / "results.json" if p.is_dir() else p


def cmd_compare(args) -> int:
    from .compare import compare, render
    from .results import read
    if args.threshold < 0:
        raise ConfigError(f"--threshold: must be >= 0 (percent), got {args.threshold}")
    pa, pb = _results_path(args.a), _results_path(args.b)
    cmp = compare(read(pa), read(pb), args.threshold)
    print(render(cmp, str(pa), str(pb), args.threshold))
    if cmp.worse:
        print(f"memcompare: {len(cmp.worse)} metric(s) got worse by more than "
              f"{args.threshold:g}%", file=sys.stderr)
        return EXIT_CELL_FAILED
    return EXIT_OK


def _describe(entry, kind: str) -> dict:
    from . import params as P
    d = {"name": entry.name, "plugin": entry.plugin, "distribution": entry.distribution,
         "version": entry.version, "doc": entry.doc, "params": P.describe(entry.cls.Params)}
    if kind == "model":
        d["costs"] = P.describe(entry.cls.Costs)
    return d


def cmd_list(args) -> int:
    from tabulate import tabulate

    from . import params as P
    from .costs import MutatorCosts
    from .plugins import plugins
    reg = plugins()
    groups = []
    if args.what in (None, "models"):
        groups.append(("models", "model", reg.models()))
    if args.what in (None, "workloads"):
        groups.append(("workloads", "workload", reg.workloads()))
    if args.json:
        doc = {name: [_describe(e, kind) for e in entries.values()]
               for name, kind, entries in groups}
        if args.what is None:
            doc["mutator_costs"] = P.describe(MutatorCosts)
        print(json.dumps(doc, indent=1))
        return EXIT_OK
    for title, kind, entries in groups:
        print(f"{title}:\n")
        for e in entries.values():
            print(f"  {e.name}  —  {e.summary}  [plugin {e.plugin}"
                  f"{f', {e.distribution} {e.version}' if e.distribution else ''}]")
            sections = [("params", e.cls.Params)]
            if kind == "model":
                sections.append(("costs (ns)", e.cls.Costs))
            for label, cls in sections:
                rows = [[f["name"], f["type"], json.dumps(f["default"]), f["doc"]]
                        for f in P.describe(cls)]
                if rows:
                    table = tabulate(rows, headers=[label, "type", "default", "doc"],
                                     tablefmt="plain", maxcolwidths=[None, None, None, 70])
                    print("\n".join("      " + line for line in table.splitlines()))
            print()
    return EXIT_OK


def cmd_trace(args) -> int:
    from .traceio import load, save, show
    if args.trace_command == "record":
        from .api import record_entry, workload_params
        from .params import parse_value
        from .plugins import plugins
        values = {}
        for item in args.param:
            if "=" not in item:
                raise ConfigError(f"--param {item!r}: write KEY=VALUE, e.g. --param max_depth=8")
            k, v = item.split("=", 1)
            values[k.strip()] = parse_value(v.strip())
        entry = plugins().workload(args.workload, "workload")
        params = workload_params(entry, values, seed=args.seed, path="--param")
        trace = record_entry(entry, params)
        if args.oracle:
            from .importers import apply_oracle
            trace = apply_oracle(trace, args.oracle)
        save(trace, args.output)
        print(f"{args.output}: {trace.events} events, {trace.objects} objects, "
              f"sha256 {trace.sha256}", file=sys.stderr)
        return EXIT_OK
    if args.trace_command == "show":
        if args.limit is not None and args.limit < 0:
            raise ConfigError(f"--limit: must be >= 0, got {args.limit}")
        sys.stdout.write(show(load(args.file), limit=args.limit))
        return EXIT_OK
    if args.trace_command == "import":
        from .importers import run_import
        return run_import(args)
    return EXIT_USAGE


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
