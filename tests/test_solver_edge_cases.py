"""Edge cases of the shared convex temperature solver found by proofs_check's margin grids."""

import warnings

import overlapcal as oc


def test_oracle_temperature_survives_a_vanishing_hessian():
    # k = 1024 pairs at overlap 0.1: while the bracket expands, the softmax of the margin-10
    # hard interpolator becomes one-hot in float64, NLL'' is exactly 0 and the Newton step is
    # undefined; the solver must bisect (a ZeroDivisionError in the last-step test was found by
    # the cor2-hard-bound grid). The result is Proposition 1's p = A, which fixes T.
    dist = oc.OverlappingUniform(1024, 0.1)
    X, y = dist.sample(4096, rng=0)
    hard = oc.HardInterpolator(margin=10.0).fit(X, y, n_classes=1024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oc.CalibrationWarning)
        result = oc.oracle_temperature(hard, dist, method="exact")
    accuracy = oc.population_accuracy(hard, dist).value
    p = oc.TemperatureScaled(hard, result.temperature).predict_proba(X[:1]).max()
    assert abs(p - accuracy) < 1e-9  # Newton converges to float64 precision; 1e-9 is loose
