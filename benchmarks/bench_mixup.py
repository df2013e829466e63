"""Benchmark: the population Mixup optimum (THEORY.md 5, Proposition 3).

    python benchmarks/bench_mixup.py [--quick]

Tables
------
1. Gaussian mixtures, orthogonal means (``d = k``, separation 3): the factorised ``O(n k (Q + d))``
   path for equidistant means against the general ``O(n k^2 Q)`` pair sum, at ``k = 100`` and
   ``k = 1000`` with the default ``Q = 128`` nodes. The general path is timed on fewer points
   (it is the same computation per point); the table gives ms per point, the speed-up and the
   largest difference of ``log g`` between the paths on the common points.
2. Overlapping uniform groups (``m = 2``, overlap 0.5, spacing ``s = k``): cost of
   ``predict_proba`` on 300 inputs drawn from the distribution, versus ``k``, for global mixing
   (``O(n k^2)`` pairs) and local mixing within groups (``max_distance = 1``, ``O(n k m)``).

Every timing is the median of ``--repeats`` runs after one warm-up call.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import overlapcal as oc
from overlapcal.mixup import _GaussianMixup


def _median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def gaussian_table(quick: bool, repeats: int) -> None:
    print("| k = d | n (fast) | fast ms/pt | n (general) | general ms/pt | speed-up | "
          "max abs diff log g |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    sizes = [(100, 200 if quick else 1000, 20 if quick else 100),
             (1000, 50 if quick else 1000, 1 if quick else 2)]
    for k, n_fast, n_general in sizes:
        gm = oc.GaussianMixture.orthogonal(k, separation=3.0)
        X, _ = gm.sample(n_fast, rng=0)
        fast = oc.MixupOptimum(gm, alpha=1.0)
        assert fast.method_ == "gaussian-equidistant"
        general = oc.MixupOptimum(gm, alpha=1.0)
        general._impl = _GaussianMixup(gm, 1.0, general.n_nodes, force_general=True)
        t_fast = _median_time(lambda: fast.log_proba(X), repeats) / n_fast
        Xg = X[:n_general]
        t_general = _median_time(lambda: general.log_proba(Xg), max(1, repeats // 3)) / n_general
        diff = float(np.max(np.abs(fast.log_proba(Xg) - general.log_proba(Xg))))
        print(f"| {k} | {n_fast} | {1e3 * t_fast:.3f} | {n_general} | {1e3 * t_general:.1f} "
              f"| {t_general / t_fast:.0f}x | {diff:.1e} |")


def uniform_table(quick: bool, repeats: int) -> None:
    print("| k | alpha | global mixing (s) | local mixing, delta = 1 (s) |")
    print("|---:|---:|---:|---:|")
    ks = [8, 16, 32, 64] if quick else [8, 16, 32, 64, 128, 256]
    for k in ks:
        dist = oc.OverlappingUniform(k, 0.5)
        X, _ = dist.sample(300, rng=0)
        for alpha in (0.3, 2.0):
            glob = oc.MixupOptimum(dist, alpha=alpha)
            local = oc.MixupOptimum(dist, alpha=alpha, max_distance=1.0)
            t_glob = _median_time(lambda: glob.predict_proba(X), repeats)
            t_local = _median_time(lambda: local.predict_proba(X), repeats)
            print(f"| {k} | {alpha} | {t_glob:.3f} | {t_local:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 30 s)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("Gaussian mixtures: factorised O(n k (Q + d)) vs general O(n k^2 Q), Q = 128\n")
    gaussian_table(args.quick, args.repeats)
    print("\nOverlapping uniform groups: predict_proba on 300 inputs\n")
    uniform_table(args.quick, args.repeats)


if __name__ == "__main__":
    main()
