"""The shared numerics (scalinglab/numerics.py), each checked once against a direct computation."""
from __future__ import annotations

import numpy as np
import pytest

from scalinglab import numerics as nm


def test_power_sum_exact_and_quadrature_agree():
    v = nm.EXACT_SUM_MAX * 2
    direct = float(np.sum(np.arange(1, v + 1, dtype=np.float64) ** -1.5))
    assert abs(nm.power_sum(1.5, v) - direct) <= 1e-9 * direct  # quadrature branch
    assert nm.power_sum(2.0, 10) == float(np.sum(np.arange(1, 11.0) ** -2.0))  # exact branch
    x, w = nm.sum_nodes(10**6)
    assert x.size < 400 and abs(w @ x**-0.7 - nm.power_sum(0.7, 10**6)) <= 1e-9 * nm.power_sum(0.7, 10**6)


def test_solve_df_vectorised_and_edges():
    lam = np.arange(1, 2001.0) ** -1.6
    n = np.array([0.5, 3.0, 100.0, 1999.0, 2000.0, 5000.0])
    k = nm.solve_df(lam, n)
    df = (lam[None, :] / (lam[None, :] + k[:4, None])).sum(1)
    np.testing.assert_allclose(df, n[:4], rtol=1e-12)
    assert np.all(k[4:] == 0)
    assert float(nm.solve_df(lam, 100.0)) == pytest.approx(k[2], rel=1e-13)
    w = np.full(lam.size, 2.0)  # multiplicities
    assert float(nm.solve_df(lam, 200.0, weights=w)) == pytest.approx(k[2], rel=1e-12)


def test_projection_error_is_kappa_T1():
    lam = np.arange(1, 501.0) ** -2.0
    p = np.arange(1, 501.0) ** -2.6
    k = float(nm.solve_df(lam, 20.0))
    assert nm.projection_error(lam, p, 20.0) == pytest.approx(k * np.sum(p / (lam + k)), rel=1e-14)
    assert nm.projection_error(lam, p, 600.0) == 0.0


def test_root_in_log():
    c = np.array([1e-8, 2.0, 1e6])
    x = nm.root_in_log(lambda x, c: x * x - c, np.full(3, 1e-10), np.full(3, 1e10), args=(c,))
    np.testing.assert_allclose(x, np.sqrt(c), rtol=1e-13)


@pytest.mark.parametrize("q", [np.array([0.3, 1e-7, 0.9]), np.array([0.2 + 0.1j, 1e-8 - 1e-9j])])
def test_geometric_block_sums_match_direct_sums(q):
    g = 1 - q
    # log(1 - q) accurate for tiny |q| (the callers' duty: numpy's log of 1 - q is not)
    log_g = 0.5 * np.log1p(np.abs(q) ** 2 - 2 * q.real) + 1j * np.arctan2(-q.imag, 1 - q.real)
    log_g = log_g.real if np.isrealobj(q) else log_g
    for h in (1, 2, 7, 300):
        gh, S0, S1 = nm.geometric_block_sums(q, log_g, float(h))
        i = np.arange(h)
        np.testing.assert_allclose(gh, g**h, rtol=1e-12)
        np.testing.assert_allclose(S0, (g[:, None] ** i).sum(1), rtol=1e-10)
        np.testing.assert_allclose(S1, (i * g[:, None] ** (h - 1 - i)).sum(1), rtol=1e-9, atol=1e-12 * h * h)


def test_least_squares_floor_and_streaming_qr_agree_with_lstsq():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 20))
    u = rng.standard_normal(300)
    ref = float(np.sum((u - A @ np.linalg.lstsq(A, u, rcond=None)[0]) ** 2))
    floor, R, z = nm.least_squares_floor(A, u)
    assert floor == pytest.approx(ref, rel=1e-12)
    np.testing.assert_allclose(R.T @ R, A.T @ A, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(R.T @ z, A.T @ u, rtol=1e-10, atol=1e-10)
    st = nm.StreamingQR(20, 2)
    Y = np.stack([u, 2 * u], 1)
    for b0 in range(0, 300, 64):
        st.add(A[b0:b0 + 64], Y[b0:b0 + 64])
    np.testing.assert_allclose(st.rss, [ref, 4 * ref], rtol=1e-11)
