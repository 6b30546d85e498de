"""The ``memcompare`` command line (docs/design.md §7): data on stdout, people's messages on stderr.

Exit codes: 0 ok; 1 a cell failed; 2 usage or configuration error; 3 a plugin failed to load.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from . import __version__, report, scaffold
from .errors import EXIT_CELL_FAILED, EXIT_OK, EXIT_USAGE, ConfigError, MemcompareError

EPILOG = """\
examples:
  memcompare run configs/quick.toml              run a comparison, print its tables
  memcompare run configs/quick.toml -n           the cells it would run, what is finished
  memcompare run configs/quick.toml -m jvm --set model.jvm.heap_mb=64 --out /tmp/what-if
  memcompare show results/quick --wide           a finished run's tables again
  memcompare list models                         what models exist, with their parameters
  memcompare trace record binary-trees --param max_depth=8 -o bt.mctrace
  memcompare trace show bt.mctrace --limit 20
  memcompare trace import --from tracefilesim run.trace -o run.mctrace --oracle reachability
  memcompare trace import --from memray prog.bin -o prog.mctrace   a real program's allocations
  memcompare run configs/default.toml --executor dask --scheduler tcp://head:8786
  memcompare report results/quick --format html  tables and figures from a results file
  memcompare compare results/old results/new    what changed between two runs
  memcompare cache info                          the trace cache's directory and size
  memcompare compare results/quick /tmp/what-if --match model,workload --only-changed
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
    r.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="where the cells run: local = a process pool of --jobs workers "
                        "(default); dask = a dask.distributed cluster (docs/scaling.md)")
    r.add_argument("--scheduler", metavar="ADDR",
                   help="with --executor dask: a running scheduler's address, e.g. "
                        "tcp://head:8786 (default: a local cluster of --jobs workers)")
    r.add_argument("--check", choices=("basic", "full"),
                   help="safety oracle level (default: the config's run.check, else basic)")
    r.add_argument("--costs", metavar="PROFILE",
                   help="a costs profile (`memcompare calibrate`): every model it has takes its "
                        "cost table from it, unless its [[model]] sets costs")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    r.add_argument("--cell-timeout", type=float, metavar="SECONDS",
                   help="stop a cell after this long, status timeout (default: the config's "
                        "run.cell_timeout_s, else 3600; 0: no limit)")
    r.add_argument("--cell-memory", type=float, metavar="MIB",
                   help="a cell's worker may map at most this much memory, beyond it the cell "
                        "ends oom (default: run.cell_memory_mb, else 65536; 0: no limit)")
    r.add_argument("--no-trace-cache", action="store_true",
                   help="record every workload afresh and keep nothing in the trace cache")
    _add_filters(r, "run only")
    r.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   dest="overrides",
                   help="override one value of the config, checked as the TOML value would be "
                        "(repeatable): run.repeats=3, model.jvm.heap_mb=64, "
                        "model.go.costs.mark_object_ns=20, workload.binary-trees.max_depth=10")
    r.add_argument("--dry-run", "-n", action="store_true",
                   help="print the cells the run would have (with their trace sizes and "
                        "whether each is already finished in the results directory) and stop")
    _add_table_options(r)

    sh = sub.add_parser("show", help="print a finished run's tables again",
                        description="Print the comparison tables of RESULTS (a results.json or "
                                    "its directory) as Markdown, or its cells as CSV or JSON; "
                                    "--model and --workload narrow them.")
    sh.add_argument("results", metavar="RESULTS", help="a results.json (or its directory)")
    sh.add_argument("--format", "-f", choices=("md", "csv", "json"), default="md",
                    help="md (the tables, default), csv (one row per cell) or json (the "
                         "results document with only the chosen cells)")
    _add_filters(sh, "show only")
    _add_table_options(sh)

    ch = sub.add_parser("cache", help="the trace cache: what it holds, or empty it",
                        description="Recorded traces are kept in $MEMCOMPARE_CACHE/traces "
                                    "(default ~/.cache/memcompare/traces), at most "
                                    "$MEMCOMPARE_TRACE_CACHE_MB MiB (default 2048).")
    ch.add_argument("action", choices=("info", "clear"),
                    help="info: directory, entries, size and limit; clear: remove every entry")

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
    cp.add_argument("--only-changed", action="store_true",
                    help="list only the cells and metrics that changed")
    cp.add_argument("--match", default="all", metavar="KEYS",
                    help="what makes two cells the same cell: \"all\" (model, params, costs, "
                         "workload, workload params and repeat; default) or a comma list of "
                         "model, params, costs, workload, workload_params, repeat — e.g. "
                         "\"model,workload\" to compare a what-if run that changed a cost or "
                         "a parameter")

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
    _compress_option(rec)
    conv = tsub.add_parser("convert", help="rewrite a trace file in another form",
                           description="Read FILE (text, or binary version 1 or 2) and write it "
                                       "to OUTPUT: the text form when OUTPUT ends in .txt, "
                                       "binary format version 2 otherwise. The trace, and so "
                                       "its sha256, is unchanged.")
    conv.add_argument("file", help="a trace file (binary or .txt)")
    conv.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="where to write")
    _compress_option(conv)
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


def _compress_option(parser) -> None:
    parser.add_argument("--compress", choices=("none", "zlib", "zstd"), default="none",
                        help="compress a binary file's columns (zstd needs the zstandard "
                             "package); default none, which lets runs memory-map the file")


def _save_trace(trace, output: str, compress: str) -> None:
    from .traceio import is_text_path, save
    if compress != "none" and is_text_path(output):
        raise ConfigError(f"--compress {compress}: {output} is a text trace (.txt); compression "
                          f"applies to binary trace files")
    save(trace, output, compress=compress)


def _add_filters(p, verb: str) -> None:
    p.add_argument("--model", "-m", action="append", default=[], metavar="NAME", dest="models",
                   help=f"{verb} this model's cells (repeatable)")
    p.add_argument("--workload", "-w", action="append", default=[], metavar="NAME",
                   dest="workloads", help=f"{verb} this workload's cells (repeatable)")


def _add_table_options(p) -> None:
    p.add_argument("--wide", action="store_true",
                   help="every column of the tables (default: the columns that fit 120 "
                        "characters)")
    p.add_argument("--columns", metavar="LIST",
                   help="the table columns to print, a comma list of their keys (see "
                        "docs/configuration.md; e.g. wall,pause_p99,footprint_peak,gc)")


def writable(path: str | Path, flag: str) -> Path:
    """``path`` as a place to write: a usage error when a folder on its way is a file."""
    p = Path(path)
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{flag} {p}: {parent} is a file, not a directory")
            break
    return p


def _table_columns(args):
    from .tables import choose_columns
    return choose_columns(getattr(args, "columns", None), getattr(args, "wide", False))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        import argcomplete          # optional: shell completion (docs/configuration.md)
        argcomplete.autocomplete(parser)
    except ImportError:
        pass
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "cache":
            return cmd_cache(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "show":
            return cmd_show(args)
        if args.command == "report":
            return report.run(args)
        if args.command == "new-plugin":
            return scaffold.run(args)
        if args.command == "calibrate":
            from . import calibrate
            writable(args.output, "-o")       # before minutes of measuring, not after
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
    except OSError as e:
        # a file the user named that cannot be read or written (a directory that is a file,
        # no permission, a full disk): one line, usage error — not a crash
        where = f"{e.filename}: " if e.filename else ""
        print(f"memcompare: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


def cmd_run(args) -> int:
    import os

    from . import config as C
    from .runner import default_jobs, progress_for, run
    from .tables import markdown
    columns = _table_columns(args)
    cfg = C.load(args.config, costs_profile=args.costs, overrides=args.overrides)
    cfg = C.select(cfg, args.models, args.workloads)
    from dataclasses import replace
    for flag, key in (("cell_timeout", "cell_timeout_s"), ("cell_memory", "cell_memory_mb")):
        value = getattr(args, flag)
        if value is not None:
            cfg = replace(cfg, **{key: C.limit({key: value}, key, 0.0,
                                               f"--{flag.replace('_', '-')}")})
    if args.check:
        cfg = replace(cfg, check=args.check)
    elif os.environ.get("MEMCOMPARE_CHECK"):      # docs/metrics.md: the environment's level
        from .engine import CHECK_LEVELS
        level = os.environ["MEMCOMPARE_CHECK"]
        if level not in CHECK_LEVELS:
            raise ConfigError(f"MEMCOMPARE_CHECK={level}: must be one of "
                              f"{', '.join(CHECK_LEVELS)}")
        cfg = replace(cfg, check=level)
    out = writable(args.out, "--out") if args.out else Path("results") / cfg.name
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; the results go into a directory — give a "
                          f"new or existing directory")
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        raise ConfigError(f"--jobs: must be >= 1, got {jobs}")
    if args.scheduler and args.executor != "dask":
        raise ConfigError("--scheduler: only with --executor dask")
    if args.dry_run:
        from .plan import dry_run
        sys.stdout.write(dry_run(cfg, out, use_cache=not args.no_trace_cache))
        return EXIT_OK
    progress = progress_for(args.quiet)
    res = out / "results.json"
    before = res.stat().st_mtime_ns if res.exists() else None
    try:
        outcome = run(cfg, out, jobs=jobs, progress=progress, executor=args.executor,
                      scheduler=args.scheduler, trace_cache=not args.no_trace_cache)
    except KeyboardInterrupt:
        now = res.stat().st_mtime_ns if res.exists() else None
        if now is None:
            print("memcompare: interrupted before any cell finished; nothing was saved",
                  file=sys.stderr)
        elif now == before:
            print(f"memcompare: interrupted before any new cell finished; {res} is as it was — "
                  f"run the same command again to resume", file=sys.stderr)
        else:
            print(f"memcompare: interrupted; the cells finished so far are saved in {res} — "
                  f"run the same command again to resume", file=sys.stderr)
        return 130
    print(markdown(outcome.cells, f"memcompare run {cfg.name}", columns=columns))
    if not args.quiet:
        wrote = "" if outcome.written else "; nothing changed, no file rewritten"
        print(f"results: {out}/ ({outcome.computed} cell(s) run, {outcome.reused} reused"
              f"{wrote})", file=sys.stderr)
    if outcome.failed:
        print(f"memcompare: {len(outcome.failed)} cell(s) failed; see the errors above and in "
              f"{out}/results.json", file=sys.stderr)
        return EXIT_CELL_FAILED
    return EXIT_OK


def cmd_cache(args) -> int:
    from .cache import TraceCache
    cache = TraceCache()
    if args.action == "clear":
        n = cache.clear()
        print(f"removed {n} trace(s) from {cache.dir}", file=sys.stderr)
        return EXIT_OK
    info = cache.info()
    print(f"directory: {info['directory']}\n"
          f"traces:    {info['entries']}\n"
          f"size:      {info['bytes'] / (1 << 20):.1f} MiB\n"
          f"limit:     {info['limit_bytes'] / (1 << 20):.0f} MiB")
    return EXIT_OK


def _results_path(path: str) -> Path:
    p = Path(path)
    return p / "results.json" if p.is_dir() else p


def cmd_compare(args) -> int:
    import math

    from .compare import compare, parse_match, render
    from .results import read
    if not math.isfinite(args.threshold) or args.threshold < 0:
        raise ConfigError(f"--threshold: must be a finite number >= 0 (percent), "
                          f"got {args.threshold}")
    match = parse_match(args.match)
    pa, pb = _results_path(args.a), _results_path(args.b)
    cmp = compare(read(pa), read(pb), args.threshold, match=match)
    if not cmp.matched:
        print(render(cmp, str(pa), str(pb), args.threshold, only_changed=args.only_changed))
        hint = ("" if args.match != "all" else
                "; to compare runs that differ in a cost or a parameter, match cells by "
                "model and workload: --match model,workload")
        raise ConfigError(f"no cell of {pa} matches a cell of {pb} (matching by "
                          f"{', '.join(match)}){hint}")
    print(render(cmp, str(pa), str(pb), args.threshold, only_changed=args.only_changed))
    if cmp.worse:
        print(f"memcompare: {len(cmp.worse)} metric(s) got worse by more than "
              f"{args.threshold:g}%", file=sys.stderr)
        return EXIT_CELL_FAILED
    return EXIT_OK


def cmd_show(args) -> int:
    """``memcompare show RESULTS``: a finished run's tables (or cells) on stdout."""
    from .report import results_path, run_name
    from .results import dumps, read, to_csv
    from .tables import markdown
    columns = _table_columns(args)
    path = results_path(args.results)
    doc = read(path)
    cells = doc.get("cells") or []
    for flag, key, wanted in (("--model", "model", args.models),
                              ("--workload", "workload", args.workloads)):
        have = list(dict.fromkeys(str(c.get(key)) for c in cells))
        for w in wanted:
            if w not in have:
                raise ConfigError(f"{flag} {w}: {path} has no {key} {w!r} "
                                  f"(it has: {', '.join(have) or 'no cells'})")
        if wanted:
            cells = [c for c in cells if c.get(key) in wanted]
    if args.format == "md":
        print(markdown(cells, f"memcompare run {run_name(doc)}", columns=columns))
    elif args.format == "csv":
        sys.stdout.write(to_csv(cells))
    else:
        sys.stdout.write(dumps({**doc, "cells": cells}))
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
    from .traceio import load, show
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
        _save_trace(trace, str(writable(args.output, "-o")), args.compress)
        print(f"{args.output}: {trace.events} events, {trace.objects} objects, "
              f"sha256 {trace.sha256}", file=sys.stderr)
        return EXIT_OK
    if args.trace_command == "convert":
        trace = load(args.file)
        _save_trace(trace, args.output, args.compress)
        print(f"{args.output}: {trace.events} events, {os.path.getsize(args.output)} bytes, "
              f"sha256 {trace.sha256}", file=sys.stderr)
        return EXIT_OK
    if args.trace_command == "show":
        if args.limit is not None and args.limit < 0:
            raise ConfigError(f"--limit: must be >= 0, got {args.limit}")
        sys.stdout.write(show(load(args.file), limit=args.limit))
        return EXIT_OK
    if args.trace_command == "import":
        from .importers import run_import
        writable(args.output, "-o")
        return run_import(args)
    return EXIT_USAGE


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
