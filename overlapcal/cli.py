"""The ``overlapcal`` command line.

    overlapcal describe [--out DIR]     ground truth of the built-in families: a table and a figure
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _writable_folder(path: str) -> Path:
    """Create ``path`` if needed and prove it is writable before any work starts."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".overlapcal-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise SystemExit(f"overlapcal: the output folder {str(folder)!r} is not writable: {exc}")
    return folder


def _describe(args) -> int:
    from .experiments.families import describe_families

    out = _writable_folder(args.out)
    start = time.perf_counter()
    report = describe_families(out)
    print(report)
    print(f"\nwrote {out / 'families.md'}, {out / 'families.png'} and {out / 'families.pdf'} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="overlapcal",
        description="Calibration under class overlap, executable (Chidambaram and Ge, ICLR 2024).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    describe = commands.add_parser(
        "describe",
        help="tabulate the exact ground truth of the built-in distribution families and plot them",
    )
    describe.add_argument("--out", default="results", help="output folder (default: results)")
    describe.set_defaults(run=_describe)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
