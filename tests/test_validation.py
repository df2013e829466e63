"""Tests of overlapcal._validation: half precision, ragged input and the error template."""

from __future__ import annotations

import numpy as np
import pytest

from overlapcal import _validation as V


def softmax16(n=50, k=7, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float16)


def test_float16_probabilities_become_float32_checked_with_the_float16_tolerance():
    p16 = softmax16()
    out = V.check_probs(p16, "f")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, p16.astype(np.float32))  # float16 -> float32 is exact
    # the same values as a float32 array are held to float32's tolerance (3.5e-4)
    off = np.array([[0.5, 0.5004]], dtype=np.float16)  # row sum 1 + 4.9e-4 (float16 rounding)
    V.check_probs(off, "f")
    with pytest.raises(ValueError, match=r"tolerance 3.5e-04\). Got row 0 summing to 1.00048"):
        V.check_probs(off.astype(np.float32), "f")


def test_half_precision_arrays_keep_float32_unless_float64_is_asked_for():
    x = np.arange(6, dtype=np.float16).reshape(3, 2)
    assert V.check_array(x, "X", "f", ndim=2).dtype == np.float32
    assert V.check_array(x, "X", "f", ndim=2, keep_float32=False).dtype == np.float64
    assert V.check_logits(x, "f").dtype == np.float32


def test_torch_half_precision_tensors():
    torch = pytest.importorskip("torch")
    p = softmax16().astype(np.float64)
    bf = torch.from_numpy(p).to(torch.bfloat16)
    arr = V._to_numpy(bf)  # was: TypeError (numpy has no bfloat16)
    assert arr.dtype == np.float32
    np.testing.assert_array_equal(arr, bf.to(torch.float32).numpy())
    # bfloat16's sqrt(eps) = 0.088 sets the tolerance, not the float32 copy's
    assert V._input_eps(bf) == 2.0**-7 and V._input_eps(torch.zeros(1)) == 2.0**-23
    assert V.check_probs(bf, "f").dtype == np.float32
    assert V.check_probs(torch.from_numpy(softmax16()), "f").dtype == np.float32
    assert V.check_logits(bf, "f").dtype == np.float32


def test_ragged_nested_sequences_name_the_parameter():
    with pytest.raises(ValueError, match=r"The 'probs' parameter of f must be a rectangular "
                                         r"array \(all rows of the same length\)\. Got a ragged"):
        V.check_probs([[0.5, 0.5], [1.0]], "f")
    with pytest.raises(ValueError, match="The 'labels' parameter of f must be a rectangular"):
        V.check_labels([[0], [1, 2]], 3, "f")
    with pytest.raises(ValueError, match="The 'logits' parameter of f must be a rectangular"):
        V.check_logits([[0.0, 1.0], [2.0]], "f")


def test_error_messages_show_plain_numbers_not_numpy_scalar_reprs():
    with pytest.raises(ValueError, match=r"Got 0 instead\.$"):
        V.check_int(np.int64(0), "n_bins", "f", low=1)
    with pytest.raises(ValueError, match=r"Got 0\.5 instead\.$"):
        V.check_option(np.float64(0.5), "norm", "f", ("l1",))
    with pytest.raises(ValueError, match=r"summing to 1\.1 instead") as info:
        V.check_probs(np.array([[0.5, 0.6]]), "f")
    assert "np.float" not in str(info.value)


@pytest.mark.parametrize("rng", [True, False, np.True_])
def test_a_bool_is_not_a_seed(rng):
    # bool is an int subclass: accepted, rng=True would silently mean seed 1
    with pytest.raises(TypeError, match=r"'rng' parameter must be None, an int, .* Got True|Got False"):
        V.check_random_state(rng)


def test_a_negative_seed_names_rng():
    with pytest.raises(ValueError, match=r"'rng' parameter must be a non-negative int seed. Got -3"):
        V.check_random_state(-3)
    with pytest.raises(ValueError, match=r"'rng' parameter"):
        V.check_random_state(np.int64(-1))


def test_seeds_generators_and_seed_sequences_are_accepted():
    g = np.random.default_rng(5)
    assert V.check_random_state(g) is g
    a = V.check_random_state(7).random(3)
    np.testing.assert_array_equal(a, V.check_random_state(np.int32(7)).random(3))
    np.testing.assert_array_equal(a, V.check_random_state(np.random.SeedSequence(7)).random(3))


@pytest.mark.parametrize("value", [1, 0, "True", None, np.array(True)])
def test_check_bool_rejects_anything_but_a_bool(value):
    with pytest.raises(TypeError, match=r"'flag' parameter of f must be a bool"):
        V.check_bool(value, "flag", "f")
    assert V.check_bool(np.False_, "flag", "f") is False
