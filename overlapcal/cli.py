"""The ``overlapcal`` command line.

    overlapcal reproduce [--quick] [--out DIR] [--figures F ...] [--scheduler ADDRESS]
                         [--workers N]  every theorem plot, a results table and a report
    overlapcal describe [--out DIR]     ground truth of the built-in families: a table and a figure
    overlapcal sweep CONFIG.toml [--out DIR] [--scheduler ADDRESS] [--workers N]
                                        run or resume a declarative sweep
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _writable_folder(path: str) -> Path:
    """Create ``path`` if needed and prove it is writable before any work starts."""
    from .experiments.sweep import check_writable

    try:
        return check_writable(path, "overlapcal")
    except OSError as exc:
        raise SystemExit(str(exc))


def _failed(exc, out: Path) -> int:
    """Some cells raised: list them, keep their tracebacks in a file, exit status 1.

    Every other cell is stored already (and, for ``sweep``, in the CSV); rerunning the same
    command retries just the failed cells.
    """
    result = exc.result
    log = out / f"{result.name}.failures.txt"
    log.write_text("".join(f"{f.line(exc.keys)}\n{f.traceback}\n" for f in exc.failures))
    print(f"overlapcal: {len(exc.failures)} of {result.n_cells} cells of {result.name!r} failed; "
          f"the other {result.n_cells - len(exc.failures)} are stored in {result.store.path}:",
          file=sys.stderr)
    for failure in exc.failures[:10]:
        print(f"  {failure.line(exc.keys)}", file=sys.stderr)
    if len(exc.failures) > 10:
        print(f"  ... and {len(exc.failures) - 10} more", file=sys.stderr)
    print(f"tracebacks in {log}; rerunning the same command retries only the failed cells",
          file=sys.stderr)
    return 1


def _positive_int(text: str) -> int:
    """argparse type: an int >= 1 (``--workers 0`` would silently mean all CPUs)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _describe(args) -> int:
    from .experiments.families import describe_families

    out = _writable_folder(args.out)
    start = time.perf_counter()
    report = describe_families(out)
    print(report)
    print(f"\nwrote {out / 'families.md'}, {out / 'families.png'} and {out / 'families.pdf'} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def _reproduce(args) -> int:
    from .experiments.reproduce import reproduce
    from .experiments.sweep import SchedulerError, SweepError

    out = _writable_folder(args.out)
    start = time.perf_counter()
    try:
        results = reproduce(out, quick=args.quick, scheduler=args.scheduler,
                            workers=args.workers, progress=not args.no_progress,
                            figures=args.figures)
    except SchedulerError as exc:
        raise SystemExit(f"overlapcal: {exc}")
    except SweepError as exc:
        return _failed(exc, exc.result.store.path.parent)
    except KeyboardInterrupt:
        return _interrupted(out)
    for result in results:
        print(f"\n{result.key}: {result.title} ({result.seconds:.0f} s)")
        for verdict in result.verdicts:
            print("  " + verdict.line())
    n_ok = sum(v.passed is True for r in results for v in r.verdicts)
    n_all = sum(v.passed is not None for r in results for v in r.verdicts)
    print(f"\n{n_ok}/{n_all} verdicts agree with the theory; figures, results.csv and report.md "
          f"in {out}/ ({time.perf_counter() - start:.0f} s)")
    return 0


def _interrupted(out) -> int:
    """Ctrl-C: say where the finished cells are and how to resume; exit status 130 (SIGINT)."""
    print(f"\noverlapcal: interrupted; every finished cell is stored in {out}/, and running "
          "the same command again resumes from there", file=sys.stderr)
    return 130


def _sweep(args) -> int:
    from .experiments.config import ConfigError, load_config
    from .experiments.sweep import SchedulerError, SweepError, run_sweep

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise SystemExit(f"overlapcal: invalid config: {exc}")
    out = _writable_folder(args.out)
    try:
        result = run_sweep(config, out, scheduler=args.scheduler, workers=args.workers,
                           progress=not args.no_progress)
    except SchedulerError as exc:
        raise SystemExit(f"overlapcal: {exc}")
    except SweepError as exc:  # run_sweep has written the CSV of the cells that finished
        return _failed(exc, out)
    except KeyboardInterrupt:
        return _interrupted(out)
    csv_path = out / f"{config.name}.csv"  # written by run_sweep
    print(f"{config.name}: {result.n_cells} cells ({result.n_run} run, {result.n_skipped} "
          f"already done) in {result.seconds:.1f} s; results in {result.store.path} and {csv_path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``overlapcal`` argument parser: the ``reproduce``, ``describe`` and ``sweep`` commands.

    Each command's parsed arguments carry ``run``, the function that executes it (see
    :func:`main`).

    Returns
    -------
    argparse.ArgumentParser
        A new parser; ``--workers`` must be an integer >= 1 and ``--out`` defaults to
        ``results``.

    Examples
    --------
    >>> from overlapcal.cli import build_parser
    >>> args = build_parser().parse_args(["sweep", "kl-vs-k.toml", "--workers", "2"])
    >>> args.command, args.config, args.out, args.workers, args.scheduler, args.no_progress
    ('sweep', 'kl-vs-k.toml', 'results', 2, None, False)
    >>> args = build_parser().parse_args(["reproduce", "--quick", "--out", "quick-results"])
    >>> args.quick, args.out, args.run.__name__
    (True, 'quick-results', '_reproduce')
    """
    parser = argparse.ArgumentParser(
        prog="overlapcal",
        description="Calibration under class overlap, executable (Chidambaram and Ge, ICLR 2024).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    reproduce = commands.add_parser(
        "reproduce", help="run every theorem experiment, draw the figures and write a report")
    reproduce.add_argument("--quick", action="store_true",
                           help="small grids and networks: a few minutes on 2 CPU cores")
    reproduce.add_argument("--out", default="results", help="output folder (default: results)")
    reproduce.add_argument("--scheduler", default=None,
                           help="Dask scheduler address (default: local processes)")
    reproduce.add_argument("--workers", type=_positive_int, default=None,
                           help="local worker processes (default: all CPUs)")
    reproduce.add_argument("--figures", nargs="+", choices=["F1", "F2", "F3", "F4", "F5"],
                           default=None, metavar="F",
                           help="draw only these figures (F1 ... F5; default: all)")
    reproduce.add_argument("--no-progress", action="store_true", help="hide progress bars")
    reproduce.set_defaults(run=_reproduce)
    describe = commands.add_parser(
        "describe",
        help="tabulate the exact ground truth of the built-in distribution families and plot them",
    )
    describe.add_argument("--out", default="results", help="output folder (default: results)")
    describe.set_defaults(run=_describe)
    sweep = commands.add_parser("sweep", help="run or resume a sweep declared in a TOML config")
    sweep.add_argument("config", help="the TOML configuration file")
    sweep.add_argument("--out", default="results", help="output folder (default: results)")
    sweep.add_argument("--scheduler", default=None,
                       help="Dask scheduler address (default: local processes)")
    sweep.add_argument("--workers", type=_positive_int, default=None,
                       help="local worker processes (default: all CPUs; 1 runs in-process)")
    sweep.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sweep.set_defaults(run=_sweep)
    return parser


def main(argv=None) -> int:
    """Run the ``overlapcal`` command line (``python -m overlapcal.cli``, or ``overlapcal``).

    ``overlapcal reproduce`` runs every theorem experiment
    (:func:`~overlapcal.experiments.reproduce.reproduce`), ``overlapcal describe`` tabulates
    and plots the built-in families, and ``overlapcal sweep CONFIG.toml`` runs or resumes a
    declarative sweep (:func:`~overlapcal.experiments.config.load_config` and
    :func:`~overlapcal.experiments.sweep.run_sweep`), writing ``OUT/NAME.jsonl`` and
    ``OUT/NAME.csv``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status, 0 on success.

    Raises
    ------
    SystemExit
        With a one-line message (and status 1) for an invalid config, an output folder that
        is not writable, or an unreachable Dask scheduler; with status 2 for invalid arguments
        (argparse's usage message).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from overlapcal.cli import main
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "demo.toml").write_text('''
    ... name = "demo"
    ... task = "calibration"
    ... seed = 0
    ... [grid]
    ... n_classes = [2, 4]
    ... [fixed]
    ... method = "hard_interpolator"
    ... n_val = 200
    ... n_test = 200
    ... kl_samples = 500
    ... ''')
    >>> argv = ["sweep", str(folder / "demo.toml"), "--out", str(folder / "out"),
    ...         "--workers", "1", "--no-progress"]
    >>> main(argv)                                       # doctest: +ELLIPSIS
    demo: 2 cells (2 run, 0 already done) in ... s; results in .../demo.jsonl and .../demo.csv
    0
    >>> main(argv)                                       # doctest: +ELLIPSIS
    demo: 2 cells (0 run, 2 already done) in ... s; results in .../demo.jsonl and .../demo.csv
    0
    >>> len((folder / "out" / "demo.csv").read_text().splitlines())   # header + 2 x 3 rows
    7
    """
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
