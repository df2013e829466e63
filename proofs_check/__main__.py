"""``python -m proofs_check``: run every claim, the self-test and the margin grids; write a report.

Usage::

    python -m proofs_check [--claim ID ...] [--max-examples N] [--profile ci|thorough]
                           [--out DIR] [--no-self-test] [--no-grid] [--list]

By default every registered claim runs, then every deliberately wrong variant (the self-test:
each must be *caught*), then the margin grids. A Markdown table goes to stdout, progress to
stderr, ``DIR/report.json`` and ``DIR/margins.csv`` to disk. Exit status 0 when every claim holds,
every wrong variant is caught and no grid point fails; 1 otherwise; 2 for bad command-line input.
"""

from __future__ import annotations

import argparse
import sys
import time

from .core import all_claims
from .report import build_report, claim_record, format_failures, format_table, write_report
from .runner import PROFILES, grid_margins, profile_settings, run_claim


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m proofs_check",
        description="Search for counterexamples to the executable statements of THEORY.md.",
    )
    parser.add_argument("--claim", action="append", metavar="ID", default=None,
                        help="run only this claim (repeatable); see --list")
    parser.add_argument("--max-examples", type=_positive_int, metavar="N", default=None,
                        help="examples per claim (default: the profile's)")
    parser.add_argument("--profile", choices=PROFILES, default="ci",
                        help="ci: deterministic and fast (default); thorough: randomized, more "
                             "examples, targeted search")
    parser.add_argument("--out", metavar="DIR", default="proofs_check_report",
                        help="where report.json and margins.csv go (default: %(default)s)")
    parser.add_argument("--no-self-test", action="store_true",
                        help="skip the deliberately wrong variants")
    parser.add_argument("--no-grid", action="store_true", help="skip the margin grids")
    parser.add_argument("--list", action="store_true", help="list the claims and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    claims = all_claims()
    if args.list:
        for claim in claims:
            print(f"{claim.id:32s} {claim.kind:12s} {claim.reference}: {claim.statement}")
        return 0
    if args.claim:
        known = {c.id: c for c in claims}
        unknown = [cid for cid in args.claim if cid not in known]
        if unknown:
            parser.error(f"unknown claim id(s) {', '.join(map(repr, unknown))}; known claims: "
                         f"{', '.join(known)}")
        claims = [known[cid] for cid in dict.fromkeys(args.claim)]
    max_examples = profile_settings(args.profile, args.max_examples).max_examples

    def progress(text):
        print(text, file=sys.stderr, flush=True)

    start = time.perf_counter()
    results = {}
    for claim in claims:
        results[claim.id] = run_claim(claim, profile=args.profile, max_examples=args.max_examples)
        r = results[claim.id]
        progress(f"claim {claim.id}: {r.status} ({r.examples} examples, min margin "
                 f"{r.min_margin:.3g}, {r.seconds:.1f} s)")
    wrongs = {}
    if not args.no_self_test:
        for claim in claims:
            w = run_claim(claim, profile=args.profile, max_examples=args.max_examples,
                          variant="wrong")
            wrongs[claim.id] = w
            progress(f"wrong variant {claim.id}: {w.status} ({w.examples} examples, "
                     f"{w.seconds:.1f} s)")
    margins, grid_problems = {}, []
    if not args.no_grid:
        for claim in claims:
            if claim.grid is None:
                continue
            t0 = time.perf_counter()
            points, problems = grid_margins(claim)
            margins[claim.id] = {"axes": list(claim.grid_axes), "points": points}
            grid_problems += problems
            progress(f"grid {claim.id}: {len(points)} points, {time.perf_counter() - t0:.1f} s")
    seconds = time.perf_counter() - start

    rows = [(c, results[c.id], wrongs.get(c.id)) for c in claims]
    report = build_report(
        profile=args.profile, max_examples=max_examples, seconds=seconds,
        records=[claim_record(c, r, w) for c, r, w in rows], margins=margins,
    )
    json_path, csv_path = write_report(report, args.out)

    print(format_table(rows))
    all_results = [r for _, r, _ in rows] + list(wrongs.values())
    failures = format_failures(all_results)
    if failures:
        print("\n" + failures)
    if grid_problems:
        print("\n### margin grids\n" + "\n".join(grid_problems))
    n_bad = sum(not r.ok for r in all_results) + len(grid_problems)
    print(f"\n{len(claims)} claims, {len(wrongs)} wrong variants, {len(margins)} grids in "
          f"{seconds:.1f} s ({args.profile} profile, {max_examples} examples); "
          f"{'all good' if n_bad == 0 else f'{n_bad} problem(s)'}. "
          f"Report: {json_path}, {csv_path}")
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
