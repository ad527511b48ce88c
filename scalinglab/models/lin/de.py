"""The linear random-feature ridge deterministic equivalent and the SGD->ridge bridge.

Atanasov, Zavatone-Veth, Pehlevan (arXiv 2405.00592) as implemented in lin.md §4; the bridge
lambda = c / (N_eff * lr) of lin.md §5 is OUR empirical finding (in neither paper).
"""
from __future__ import annotations

import numpy as np

from scalinglab.numerics import projection_error, root_in_log, solve_df

from .core import Spectrum, n_phases

#: Bridge constant c of lambda = c/(N_eff lr), fitted (lin.md §5) for ceil(log2 t) phases and
#: lr = 0.1 at a = 1.5 and a = 2 (b = a, sigma^2 = 1). Linear in a between, clamped outside.
BRIDGE_C = {1.5: 0.39, 2.0: 0.36}


def bridge_c(a: float) -> float:
    """The bridge constant c(a): 0.39 at a <= 1.5, 0.36 at a >= 2, linear between."""
    (a0, c0), (a1, c1) = sorted(BRIDGE_C.items())
    w = min(1.0, max(0.0, (a - a0) / (a1 - a0)))
    return float(c0 + w * (c1 - c0))


def _df1(lam: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    return np.sum(lam[None, :] / (lam[None, :] + kappa[:, None]), axis=1)


def _kappa_df(lam: np.ndarray, target: np.ndarray) -> np.ndarray:
    """kappa with df1(kappa) = target (target < len(lam)): :func:`scalinglab.numerics.solve_df`."""
    return solve_df(lam, target)


def rf_ridge_risk(
    spec: Spectrum, N: int, P: np.ndarray, ridge: np.ndarray, sigma_e2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic-equivalent test risk E_g of linear random-feature ridge (lin.md §4).

    .. math::

        \\kappa(1 - df_1/P)(1 - df_1/N) = \\lambda,\\quad
        \\rho = \\frac{N - df_1}{N - df_2},\\quad
        \\tilde\\gamma = \\frac{df_1 - \\rho(df_1 - df_2)}{P},\\quad
        E_g = \\frac{\\rho\\kappa^2 T_2 + (1-\\rho)\\kappa T_1 + \\sigma_e^2}{1 - \\tilde\\gamma},

    with df_1, df_2, T_1, T_2 sums over the d modes (lambda_k = k^-a, E w_k^2 = k^(a-b)).

    Parameters
    ----------
    spec : Spectrum
    N : int
        Number of features (our N, Lin's M).
    P, ridge : ndarray, shape (n,)
        Samples and ridge per evaluation.
    sigma_e2 : float
        Label noise seen by the head modes (sigma^2 + tail).

    Returns
    -------
    E_g : ndarray, shape (n,)
        Total test risk (noise included).
    gamma_tilde : ndarray, shape (n,)
        The noise amplification: the noise contributes sigma_e^2 / (1 - gamma_tilde).
    """
    lam = spec.lam
    w2 = spec.w_sd**2
    P = np.asarray(P, dtype=np.float64)
    ridge = np.asarray(ridge, dtype=np.float64)
    m = np.minimum(P, float(N))
    kappa0 = np.where(m < spec.d, _kappa_df(lam, np.minimum(m, spec.d - 0.5)), 0.0)

    def F(k: np.ndarray, P: np.ndarray, ridge: np.ndarray) -> np.ndarray:
        f1 = _df1(lam, k)
        return k * (1.0 - f1 / P) * (1.0 - f1 / N) - ridge

    lo = np.maximum(kappa0, 1e-300)
    hi = ridge + lam.sum() * (1.0 / N + 1.0 / P) + 1.0
    kappa = root_in_log(F, lo, hi, args=(P, ridge))
    r = lam[None, :] / (lam[None, :] + kappa[:, None])
    df1 = r.sum(axis=1)
    df2 = (r * r).sum(axis=1)
    T1 = (w2[None, :] * r).sum(axis=1)
    T2 = (w2[None, :] * r / (lam[None, :] + kappa[:, None])).sum(axis=1)
    rho = (N - df1) / (N - df2)
    gt = (df1 - rho * (df1 - df2)) / P
    Eg = (rho * kappa**2 * T2 + (1.0 - rho) * kappa * T1 + sigma_e2) / (1.0 - gt)
    return Eg, gt


def rf_approx(spec: Spectrum, N: int) -> float:
    """DE of E Approx (head part): kappa_N T_1(kappa_N) with df_1(kappa_N) = N (P -> inf, ridge -> 0)."""
    return projection_error(spec.lam, spec.w_sd**2 * spec.lam, float(N))


def de_curves(
    spec: Spectrum, N: int, t: np.ndarray, sigma2: float, lr: float
) -> dict[str, np.ndarray]:
    """The bridge tier: E R(v_t) - sigma^2 ~ E_g(N, P = t, lambda = c(a)/(N_eff lr)) - sigma^2.

    N_eff = t / ceil(log2 t). The tail tau = sum_{i>d} i^-b is treated as unlearnable noise,
    exactly as in the exact tier, so loss = E_g(sigma^2 + tau) - sigma^2.

    Split (ours, heuristic beyond "loss" and "approx"): approx = kappa_N T_1(kappa_N) + tau;
    var = (sigma^2 + approx) gamma_tilde / (1 - gamma_tilde) (the DE's noise amplification
    applied to the effective noise, mirroring the exact tier); bias = loss - approx - var.
    """
    t = np.asarray(t, dtype=np.int64)
    n_t = t.size
    approx = rf_approx(spec, N) + spec.tail
    loss = np.empty(n_t)
    var = np.zeros(n_t)
    loss[t == 0] = spec.head_power + spec.tail
    pos = np.flatnonzero(t > 0)
    if pos.size:
        T = t[pos].astype(np.float64)
        neff = T / np.array([n_phases(x) for x in t[pos]], dtype=np.float64)
        ridge = bridge_c(spec.a) / (neff * lr)
        Eg, gt = rf_ridge_risk(spec, N, T, ridge, sigma2 + spec.tail)
        loss[pos] = Eg - sigma2
        var[pos] = (sigma2 + approx) * gt / (1.0 - gt)
    app = np.full(n_t, approx)
    return {"loss": loss, "approx": app, "bias": loss - app - var, "var": var}
