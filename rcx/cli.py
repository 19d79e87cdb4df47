"""Command line: ``rcx run --headless PLAN``, ``rcx results DB``, ``rcx spaces``, ``rcx plugins``.

``rcx run --headless RESULTS.db`` resumes the latest run of a results file from the plan it
holds. ``--disable-plugin NAME`` (or ``-p no:NAME``, as pytest), anywhere on the command line,
turns a plugin off for that command, like ``RCX_DISABLE_PLUGINS=NAME``.

Exit codes (:mod:`rcx.exits`): 0 success, 1 unexpected internal error, 2 bad input (plan,
names, files, device), 3 every evaluation of the run failed, 130 interrupted (the results file
stays resumable).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rcx.exits import EXIT_ALL_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, error


def print_table(*args: Any, **kwargs: Any) -> None:
    """:func:`rcx.termtable.print_table`, imported on first use: this module stays quick to import,
    so a Ctrl-C at start-up lands in :func:`main`, which reports it in one line."""
    from rcx.termtable import print_table as table

    table(*args, **kwargs)


#: Modules behind ``rcx analyze``: each has ``add_parser(subparsers)``, which adds its
#: sub-command and sets ``func(args) -> exit code``.
ANALYSES: tuple[str, ...] = (
    "rcx.analysis.corr", "rcx.analysis.select", "rcx.analysis.proxies", "rcx.analysis.combine", "rcx.analysis.fit",
    "rcx.analysis.variation", "rcx.analysis.repeats", "rcx.analysis.cost", "rcx.analysis.funnel",
    "rcx.analysis.transfer",
)


class UsageError(Exception):
    """Bad input: printed as one message, exit code 2."""


def _visible_columns(table, all_columns: bool) -> list[str]:
    """The terminal view drops error columns, empty columns (not a status column: an empty one
    says ``pending``) and evaluator metrics that repeat the architecture's own summary (params,
    flops, features, ratio)."""
    from rcx.core.results import ARCH_COLUMNS

    if all_columns:
        return table.columns
    cols = []
    for c in table.columns:
        ev_name, _, metric = c.rpartition(".")
        if ev_name and (metric in ARCH_COLUMNS or metric == "error"):
            continue
        if c != "arch" and not c.endswith(".status") and all(r.get(c) is None for r in table.rows):
            continue
        cols.append(c)
    return cols


def _arch_copies(table) -> set[str]:
    """Evaluator columns that repeat an architecture column (``ridge_rfm.params`` beside
    ``params``): equal to it in every row where both have a value."""
    from rcx.core.results import ARCH_COLUMNS

    out = set()
    for c in table.columns:
        inst, dot, name = c.rpartition(".")
        if inst in table.evaluators and name in ARCH_COLUMNS and name in table.columns:
            pairs = [(r.get(c), r.get(name)) for r in table.rows if r.get(c) is not None and r.get(name) is not None]
            if all(a == b or (isinstance(a, list) and list(b) == a) for a, b in pairs):
                out.add(c)
    return out


def _with_pending(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` for a terminal table: a missing ``<instance>.status`` (an evaluation not run yet)
    reads :data:`~rcx.core.results.PENDING`, as in the TUI; the rows themselves are not changed."""
    from rcx.core.results import PENDING

    return [{k: PENDING if v is None and k.endswith(".status") else v for k, v in r.items()} for r in rows]


def write_results(table, rows: list[dict[str, Any]], fmt: str, all_columns: bool, title: str | None = None) -> None:
    """``rows`` of ``table`` to stdout as JSON, CSV (every column but an evaluator's copies of
    the architecture's own columns, unless ``all_columns``) or a terminal table."""
    if fmt == "json":
        from rcx.core.store import plain_json

        json.dump(plain_json(rows, "rows", lenient=True), sys.stdout, indent=1, allow_nan=False)  # NaN/inf: null
        sys.stdout.write("\n")
    elif fmt == "csv":
        copies = set() if all_columns else _arch_copies(table)
        writer = csv.DictWriter(sys.stdout, fieldnames=[c for c in table.columns if c not in copies],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    else:
        priority = None if all_columns else [*table.summary_columns(), *table.metric_columns()]
        print_table(_visible_columns(table, all_columns), _with_pending(rows), title, priority=priority,
                    units=table.units)


# -- commands -----------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from rcx.core.device import THREADS_ENV, parse_threads
    from rcx.core.failures import summarize
    from rcx.core.plan import PlanError, load_plan
    from rcx.core.results import results_table
    from rcx.core.runner import ExecutorError
    from rcx.core.session import RUN_ERRORS, run_plan
    from rcx.core.store import Store
    from rcx.exec import build_runner, make_executor
    from rcx.plugins import get_registry
    from rcx.progress import Reporter

    try:
        threads = None if args.threads is None else parse_threads(args.threads)
    except ValueError as exc:
        raise UsageError(f"--threads: {exc}") from None
    settings = execution_settings(args)
    if not args.headless and sys.stdin.isatty() and sys.stdout.isatty() and not is_results_file(args.plan):
        if args.db is not None or args.new_run or args.retry_failed:
            raise UsageError("--db, --new-run and --retry-failed need --headless (the TUI takes the plan's output)")
        if args.threads is not None:  # the TUI's runs read it from the environment
            os.environ[THREADS_ENV] = args.threads
        return _tui([str(args.plan)], settings)
    try:  # wrong execution flags or a missing Ray: said before the plan is read
        executor = make_executor(settings)
    except ExecutorError as exc:
        raise UsageError(str(exc)) from None
    registry = get_registry()
    try:
        if is_results_file(args.plan):
            if args.db is not None or args.new_run:
                raise UsageError(f"{args.plan} is a results file: its run resumes there "
                                 "(--db and --new-run take a plan)")
            plan = stored_plan(args.plan, registry)
        else:
            plan = load_plan(args.plan, registry, output=args.db)
    except PlanError as exc:
        print(str(exc), file=sys.stderr)
        error(f"the plan has {exc.total:,} problem(s); nothing was run")
        return EXIT_USAGE

    cancel = threading.Event()
    reporter = Reporter(quiet=args.quiet)
    runner = build_runner(plan, registry, executor, on_event=reporter, cancel=cancel, threads=threads)

    def on_sigint(signum, frame):  # first Ctrl-C: stop after the current batch; second: now
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nrcx: stopping after the current batch (Ctrl-C again to stop now)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        run_id = run_plan(runner, new_run=args.new_run, retry_failed=args.retry_failed)
        store = Store.open_readonly(plan.output)
        try:
            table = results_table(store, run_id, registry)
            failures = summarize(store.evaluations(run_id))
        finally:
            store.close()
    except RUN_ERRORS as exc:
        error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        error(f"interrupted; finished evaluations are saved in {plan.output}: run the same command to resume")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, previous)

    if cancel.is_set():
        error(f"stopped; finished evaluations are saved in {plan.output}: run the same command to resume")
        return EXIT_INTERRUPTED
    sort = table.default_sort()
    if args.top and sort and not args.quiet:
        ranked = [r for r in default_order(table) if not is_invalid(table, r)]  # invalid rows never top a table
        rows = ranked[: args.top]
        by = f"stage reached, then {sort}" if table.stage_by else sort
        print_table(table.summary_columns(), _with_pending(rows), priority=["arch"],
                    title=f"top {len(rows)} by {by} (all columns: rcx results {plan.output})")
    print(f"results: {plan.output}", file=sys.stderr)
    if failures.all_failed:
        error(failures.message(str(plan.output)))
        return EXIT_ALL_FAILED
    if failures.failed:
        print(f"rcx: warning: {failures.message(str(plan.output))}", file=sys.stderr)
    return EXIT_OK


SQLITE_MAGIC = b"SQLite format 3\x00"


def is_results_file(path: Path) -> bool:
    """True when ``path`` is an SQLite file (a results file), whatever its name."""
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def stored_plan(db: Path, registry: Any) -> Any:
    """The plan of the latest run in results file ``db``, validated, with ``db`` as its output:
    running it resumes that run. The ids an ``ids`` sampler read from its ``file`` come from the
    stored run, so the file is not read again (a relative one was relative to the plan's folder,
    which the results file does not know). ``UsageError`` when the file holds no run."""
    from rcx.core.plan import file_ids, parse_plan
    from rcx.core.store import Store, StoreError

    try:
        store = Store.open_readonly(db)
        try:
            run = store.run(None)
        finally:
            store.close()
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    return parse_plan(run.plan_text, registry, source=f"{db} (the plan of run {run.id}, {run.name!r})", output=db,
                      file_ids=file_ids(run.plan.get("sampler") or {}))


def default_order(table) -> list[dict[str, Any]]:
    """The results' default order: a funnel's by stage reached, then the deciding score
    (finalists first); otherwise by the default sort column (best first)."""
    if table.stage_by:
        return table.funnel_order()
    sort = table.default_sort()
    return table.sorted(sort) if sort else table.rows


def is_invalid(table, row: dict[str, Any]) -> bool:
    """Whether the row's architecture does not fit the input (every evaluation ``invalid``)."""
    statuses = [row.get(f"{i}.status") for i in table.evaluators]
    return bool(statuses) and all(s == "invalid" for s in statuses)


def execution_settings(args: argparse.Namespace) -> Any:
    """``rcx run``'s execution flags as :class:`~rcx.exec.ExecutionSettings` (UsageError when wrong)."""
    from rcx.exec.settings import EXECUTION_OPTIONS, ExecutionSettings

    settings = ExecutionSettings.from_values({o.name: getattr(args, o.name) for o in EXECUTION_OPTIONS})
    problems = settings.problems()
    if problems:
        raise UsageError("; ".join(problems))
    return settings


def cmd_validate(args: argparse.Namespace) -> int:
    from rcx.core.plan import PlanError, load_plan
    from rcx.plugins import get_registry

    registry = get_registry()
    status = EXIT_OK
    for path in args.plans:
        try:
            plan = load_plan(path, registry)
        except PlanError as exc:
            print(str(exc), file=sys.stderr)
            status = EXIT_USAGE
            continue
        evs = ", ".join(e.instance for e in plan.evaluators)
        print(f"{path}: ok ({plan.dataset} / {plan.space} / {plan.sampler['kind']} / {evs})")
    return status


def _print_errors(args: argparse.Namespace) -> int:
    """``rcx results DB --errors``: the run's failed evaluations with their tracebacks."""
    from rcx.core.failures import failure_report, summarize
    from rcx.core.store import Store, StoreError

    try:
        store = Store.open_readonly(args.db)
        try:
            run = store.run(args.run)
            rows = store.evaluations(run.id)
        finally:
            store.close()
    except StoreError as exc:
        error(str(exc))
        return EXIT_USAGE
    failures = summarize(rows)
    if not failures.failed:
        print(f"run {run.id} ({run.name}): no failed evaluations ({failures.total} finished)")
        return EXIT_OK
    print(f"run {run.id} ({run.name}): {failures.failed} of {failures.total} evaluations failed\n")
    print(failure_report(rows))
    return EXIT_OK


def _print_curves(args: argparse.Namespace) -> int:
    """``rcx results DB --curves ARCH``: the learning curves of one candidate (table, and a plot on a terminal)."""
    from rcx.analysis.common import AnalysisError
    from rcx.analysis.curves import show_curves
    from rcx.core.store import StoreError

    try:
        show_curves(args.db, args.curves, args.run, "table" if args.format == "table" else args.format)
    except (StoreError, AnalysisError) as exc:
        error(str(exc))
        return EXIT_USAGE
    return EXIT_OK


def cmd_results(args: argparse.Namespace) -> int:
    if args.errors:
        return _print_errors(args)
    if args.curves:
        return _print_curves(args)
    from rcx.analysis.common import AnalysisError
    from rcx.core.results import results_table
    from rcx.core.store import Store, StoreError
    from rcx.plugins import get_registry

    try:
        store = Store.open_readonly(args.db)
        try:
            table = results_table(store, args.run, get_registry())
            run = store.run(args.run)
        finally:
            store.close()
        if args.truth:
            from rcx.analysis.truth import join_specs

            table, _ = join_specs(table, args.truth)
        sort = table.resolve(args.sort) if args.sort else table.default_sort()
        front = None
        if args.pareto:
            from rcx.analysis.pareto import pareto_front, parse_objectives

            objectives = parse_objectives(args.pareto, table)
            front, _ = pareto_front(table, objectives)
            sort = table.resolve(args.sort) if args.sort else objectives[0].column
    except StoreError as exc:
        error(str(exc))
        return EXIT_USAGE
    except AnalysisError as exc:  # a truth that does not join
        error(str(exc))
        return EXIT_USAGE
    except KeyError as exc:
        error(str(exc.args[0]))
        return EXIT_USAGE
    descending = True if args.desc else False if args.asc else None
    if args.sort or args.pareto or descending is not None or not table.stage_by:
        rows = table.sorted(sort, descending) if sort else table.rows
    else:  # a funnel: finalists first
        rows, sort = table.funnel_order(), f"stage reached, then {sort}"
    if front is not None:
        on_front = {r["arch"] for r in front}
        rows = [r for r in rows if r["arch"] in on_front]
    if args.top:
        rows = rows[: args.top]
    title = (f"run {run.id} ({run.name}, {run.state}): {len(rows)} of {len(table.rows)} rows"
             + (f", by {sort}" if sort else ""))
    if front is not None:
        title += f", on the Pareto front of {' and '.join(map(str, objectives))}"
    write_results(table, rows, args.format, args.all_columns, title)
    return EXIT_OK


def cmd_spaces(args: argparse.Namespace) -> int:
    from rcx.plugins import get_registry

    rows = []
    for entry in get_registry().all("space"):
        try:
            size: Any = len(entry.obj())
        except Exception as exc:  # a third-party space that cannot build with defaults
            size = f"error: {exc}"
        defaults = ", ".join(f"{o.name}={o.default}" for o in entry.obj.options)
        rows.append({"space": entry.name, "size": size, "defaults": defaults, "provider": entry.dist,
                     "help": entry.obj.help})
    print_table(["space", "size", "defaults", "provider", "help"], rows,
                title="search spaces (size with default options)", priority=["space", "size"])
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    """The plans' JSON Schema (with the installed plugins' options) on stdout, or in ``--output``."""
    from rcx.core.schema import plan_schema
    from rcx.plugins import get_registry

    text = json.dumps(plan_schema(get_registry()), indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror}") from None
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    from rcx.plugins import KINDS, get_registry

    registry = get_registry()
    rows = [
        {"kind": kind, "name": e.name, "version": getattr(e.obj, "version", ""),
         "provider": f"{e.dist} {e.dist_version}", "help": getattr(e.obj, "help", "")}
        for kind in KINDS for e in registry.all(kind)
    ]
    rows += [{"kind": kind, "name": name, "version": "", "provider": " and ".join(dists),
              "help": "unusable: registered by two distributions (disable one: --disable-plugin NAME)"}
             for (kind, name), dists in sorted(registry.clashes.items())]
    rows += [{"kind": "(disabled)", "name": ep, "version": "", "provider": dist,
              "help": "turned off by RCX_DISABLE_PLUGINS or --disable-plugin"} for ep, dist in registry.disabled]
    print_table(["kind", "name", "version", "provider", "help"], rows, title="plugins",
                priority=["kind", "name", "provider"])
    if args.verbose:
        for kind in KINDS:
            for e in registry.all(kind):
                opts = [{"option": o.name, "type": o.describe(), "default": json.dumps(o.default), "help": o.help}
                        for o in e.obj.options]
                if opts:
                    print_table(["option", "type", "default", "help"], opts, title=f"{kind} {e.name}: options")
                metrics = [{"metric": m.name, "unit": m.unit, "better": "higher" if m.higher_is_better else "lower",
                            "role": getattr(m, "role", "score"), "help": m.help}
                           for m in getattr(e.obj, "metrics", None) or getattr(e.obj, "subsets", None) or ()]
                if metrics:
                    print_table(["metric", "unit", "better", "role", "help"], metrics,
                                title=f"{kind} {e.name}: metrics")
    return EXIT_OK  # broken plugins were reported (once) on stderr while loading


EXECUTION_METAVARS = {"address": "auto|HOST:PORT", "cpus_per_worker": "N", "worker_timeout": "SECONDS"}
"""How ``rcx run --help`` spells the values of the execution flags that are not ``N`` (int) or ``F`` (float)."""


def add_option_flags(group: Any, options: Sequence[Any], metavars: dict[str, str]) -> None:
    """One ``--flag-name`` per :class:`~rcx.api.options.Option` (``gpus_per_worker`` ->
    ``--gpus-per-worker``): its type, choices, default and help from the declaration. Ranges are
    left to the settings' own check, which names the flag."""
    for option in options:
        kwargs: dict[str, Any] = {"default": option.default, "help": option.help, "dest": option.name}
        if option.type is bool:
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = option.type
            if option.choices:
                kwargs["choices"] = option.choices
            else:
                kwargs["metavar"] = metavars.get(option.name, {int: "N", float: "F"}.get(option.type, "VALUE"))
        group.add_argument("--" + option.name.replace("_", "-"), **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from rcx import __version__

    p = argparse.ArgumentParser(
        prog="rcx", usage="rcx [PLAN.toml | RESULTS.db]\n       rcx COMMAND [ARGS]",
        description="Score convolutional architectures with random weights. On a terminal, `rcx` alone opens the "
                    "terminal UI, `rcx PLAN.toml` opens a plan in it and `rcx RESULTS.db` a results file; "
                    "the commands below work without it.",
        epilog="Environment: RCX_DISABLE_PLUGINS=NAME,... turns plugins off (as --disable-plugin); "
               "RCX_STRICT_PLUGINS=1 makes any plugin problem an error; RCX_THREADS=N|auto sets torch's CPU threads; "
               "RCX_CACHE_DIR is rcx's cache folder (default: ~/.cache/rcx).")
    p.add_argument("--version", action="version", version=f"rcx {__version__}")
    p.add_argument("--disable-plugin", "-p", action="append", default=[], metavar="NAME",
                   help="turn a plugin off (its entry-point or distribution name, e.g. naswot or rcx-naswot; "
                        "-p no:NAME as in pytest); repeatable, anywhere on the line; the same as "
                        "RCX_DISABLE_PLUGINS=NAME,...")
    # prog: without it argparse prefixes each command's usage with the whole usage above
    sub = p.add_subparsers(dest="command", metavar="COMMAND", prog="rcx")

    r = sub.add_parser("run", help="run a plan (TOML), or resume the run of a results file",
                       description="Run or resume a plan. Given a results file instead, resume its latest run "
                                   "from the plan stored in it (in this terminal, as with --headless).")
    r.add_argument("plan", type=Path, metavar="PLAN.toml | RESULTS.db",
                   help="plan file (TOML), or a results file whose latest run to resume")
    r.add_argument("--headless", action="store_true",
                   help="run in this terminal without the TUI (the default when input or output is not a terminal; "
                        "otherwise `rcx run PLAN` opens the plan in the TUI)")
    r.add_argument("--db", type=Path, help="results file (overrides the plan's output)")
    r.add_argument("--new-run", action="store_true", help="add a separate run when the file holds another plan")
    r.add_argument("--retry-failed", action="store_true", help="evaluate failed candidates again on resume")
    r.add_argument("--threads", metavar="N|auto",
                   help="torch CPU threads (default: $RCX_THREADS, else auto: fewer on a busy machine); "
                        "changes the speed, never the plan or its results")
    from rcx.exec.settings import EXECUTION_OPTIONS

    x = r.add_argument_group("execution", "where evaluations run; never part of the plan, never a change of results")
    add_option_flags(x, EXECUTION_OPTIONS, EXECUTION_METAVARS)
    r.add_argument("--top", type=int, default=10, help="rows of the final table (0: none)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check plans without running them")
    v.add_argument("plans", nargs="+", type=Path)
    v.set_defaults(func=cmd_validate)

    res = sub.add_parser("results", help="print the results of a run")
    res.add_argument("db", type=Path, help="results file")
    res.add_argument("--run", type=int, help="run id (default: the latest)")
    res.add_argument("--sort", help="column, e.g. ridge_rfm.val_acc (or val_acc when unique), or a rank average of "
                                    "several, e.g. synflow.score,jacov.score,flops (lower is better; docs/scores.md); "
                                    "default: the last stage's headline score, a funnel's finalists first")
    order = res.add_mutually_exclusive_group()
    order.add_argument("--asc", action="store_true", help="ascending (default: best first by the metric's direction)")
    order.add_argument("--desc", action="store_true", help="descending")
    res.add_argument("--top", type=int, help="only the first N rows")
    res.add_argument("--errors", action="store_true",
                     help="list the failed evaluations with their errors and tracebacks instead of the table")
    res.add_argument("--curves", metavar="ARCH",
                     help="the learning curves (per epoch) of one candidate's training evaluators instead of the "
                          "table: a table of the points, and a plot when the output is a terminal")
    res.add_argument("--format", choices=("table", "csv", "json"), default="table")
    res.add_argument("--all-columns", action="store_true", help="table: show every column")
    res.add_argument("--truth", action="append", default=[], metavar="TABLE[:SUBSET]",
                     help="add a truth table's columns joined by architecture id, e.g. nb201 or nb201:cifar10 "
                          "(repeatable; see `rcx plugins`)")
    res.add_argument("--pareto", metavar="X,Y[,...]",
                     help="only the rows on the Pareto front of these columns, e.g. naswot.score,flops (declared "
                          "directions; params/flops/features lower is better; COL:max or COL:min to say)")
    res.set_defaults(func=cmd_results)

    s = sub.add_parser("spaces", help="list the search spaces and their sizes")
    s.set_defaults(func=cmd_spaces)

    pl = sub.add_parser("plugins", help="list evaluators, spaces and datasets with their providers")
    pl.add_argument("-v", "--verbose", action="store_true", help="also list options and metrics")
    pl.set_defaults(func=cmd_plugins)

    sc = sub.add_parser("schema", help="print the JSON Schema of plan files, for editors that complete and check TOML",
                        description="Print the JSON Schema (draft-07) of plan files, with the options of every "
                                    "installed evaluator, space and dataset, made from the declarations `rcx validate` "
                                    "checks against. Point an editor with TOML schema support at it (Taplo, Even "
                                    "Better TOML: a `#:schema rcx-plan.schema.json` first line) to complete and check "
                                    "plans as you type.")
    sc.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the schema to FILE (default: stdout)")
    sc.set_defaults(func=cmd_schema)

    if ANALYSES:
        an = sub.add_parser("analyze", help="analyse a results file", description="Analyses of a results file.")
        analyses = an.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
        for module in ANALYSES:
            importlib.import_module(module).add_parser(analyses)
    return p


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    return list(next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)))


def _opens_tui(parser: argparse.ArgumentParser, argv: list[str]) -> bool:
    """``rcx`` alone (on a terminal), ``rcx PLAN.toml`` and ``rcx RESULTS.db`` open the TUI.

    ``UsageError`` for one word that is neither a command nor an existing file, naming the
    nearest command."""
    if not argv:
        return sys.stdin.isatty() and sys.stdout.isatty()
    commands = _commands(parser)
    if len(argv) != 1 or argv[0].startswith("-") or argv[0] in commands:
        return False
    if not Path(argv[0]).exists():
        close = difflib.get_close_matches(argv[0], commands, n=1, cutoff=0.5)
        hint = f"; did you mean `rcx {close[0]}`?" if close else ""
        raise UsageError(f"{argv[0]!r} is neither an rcx command nor a file{hint} (commands: {', '.join(commands)}; "
                         "`rcx --help` says more)")
    return True


def split_plugin_flags(argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` without its ``--disable-plugin NAME`` / ``-p no:NAME`` flags, and those names.

    Taken out before parsing, so they work anywhere on the line (before ``--`` only); ``-p``
    takes only ``no:NAME`` (rcx loads every installed plugin itself)."""
    rest: list[str] = []
    names: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "--":
            rest += [arg, *it]
            break
        flag, eq, value = arg.partition("=")
        if flag in ("--disable-plugin", "-p") or (arg.startswith("-p") and not arg.startswith("--") and len(arg) > 2):
            if not eq and flag in ("--disable-plugin", "-p"):
                value = next(it, "")
            elif not eq:
                value = arg[2:]
            if flag != "--disable-plugin":
                if not value.startswith("no:"):
                    raise UsageError(f"-p takes no:NAME to turn a plugin off, got {value!r} (rcx loads every installed "
                                     "plugin itself)")
                value = value[3:]
            if not value:
                raise UsageError(f"{flag} needs a plugin name (an entry-point or distribution name; see `rcx plugins`)")
            names.append(value)
        else:
            rest.append(arg)
    return rest, names


def _tui(argv: list[str], execution: Any = None) -> int:
    from rcx.plugins import PluginError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        error("the terminal UI needs a terminal; use `rcx run --headless PLAN` or `rcx results DB` in scripts")
        return EXIT_USAGE
    from rcx.tui import main as tui_main  # only here: the headless commands never import textual

    try:
        return tui_main(Path(argv[0]) if argv else None, execution)
    except PluginError as exc:
        error(str(exc))
        return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before a command handles it itself (imports, plugin loading, start-up)
        error("interrupted")
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    from rcx.plugin_checks import ResultError
    from rcx.plugins import PluginError

    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, disabled = split_plugin_flags(argv)
        if disabled:
            from rcx.plugins import disable_plugins

            disable_plugins(disabled)
        if _opens_tui(parser, argv):
            return _tui(argv)
    except UsageError as exc:
        error(str(exc))
        return EXIT_USAGE
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        return args.func(args)
    except (PluginError, ResultError, UsageError) as exc:
        error(str(exc))
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `rcx results db | head`
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
