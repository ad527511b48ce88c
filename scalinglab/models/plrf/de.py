r"""PLRF without sampling: the deterministic-equivalent (``"de"``) and asymptotic tiers.

Paquette, Paquette, Xiao, Pennington, "4+3 Phases of Compute-Optimal Neural Scaling Laws",
arXiv:2405.15074. Notes: ``docs/theory/plrf.md`` §3 (Volterra equation, deterministic
equivalent), §4 (asymptotic terms). Project symbols: ``N`` is the paper's d, ``t`` its r,
``v = round(v_ratio * N)``, :math:`\gamma = \text{lr\_scale}/\sum_{j\le v} j^{-2\alpha}`,
exactly as :mod:`scalinglab.models.plrf` (so the tiers are comparable point by point).

Tier ``"de"``
    The expected loss solves the Volterra equation (plrf.md §3)

    .. math::

        \mathcal P(r) = \mathcal F(r) + \sum_{s<r}\mathcal K(r-1-s)\,\mathcal P(s),\quad
        \mathcal F(r) = F_0 + \frac{1}{\pi}\operatorname{Im}\int_{\Gamma_+} s_F(z)\,g(z)^r dz,\quad
        \mathcal K(r) = \frac{\gamma^2 B}{\pi}\operatorname{Im}\int_{\Gamma_+} s_K(z)\,g(z)^r dz,

    with :math:`g(z) = 1 - 2\gamma B z + \gamma^2 B(B+1) z^2` and the deterministic
    equivalents :math:`s_F(z) = \sum_{j\le v} \lambda_j b_j^2/(\lambda_j m(z) - z)`,
    :math:`s_K(z) = N z (1 - m(z)) + \operatorname{tr} D`, where m solves
    :math:`m + \tfrac{m}{N}\sum_j \lambda_j/(\lambda_j m - z) = 1` (Silverstein). Γ₊ is the upper
    half of a closed contour around the non-zero spectrum that crosses the real axis in the
    spectral gap (0, λ_min) and right of λ_max; the point mass at 0 gives the floor
    :math:`F_0 = \sum_j \lambda_j b_j^2/(1+\tau\lambda_j)`.

    Numerics (our construction, plrf.md §3 "quantised-spectrum route" with complex nodes):

    * sums over j ≤ v use the first 48 terms exactly and an Euler–Maclaurin (midpoint) tail
      integrated by composite Gauss–Legendre in log j (~140–450 nodes for v up to 1e6;
      relative error ~1e-10 for smooth summands, ≤ 1e-7 near the spectrum);
    * the spectral edges come from the explicit inverse :math:`z(u) = 1/u - \tfrac1N\sum_j
      \lambda_j/(\lambda_j u - 1)` (critical points, as the authors' ``theory_lambda_min``), so
      the contour encloses the true left edge even when it lies below N^(-2α);
    * the contour is an ellipse in :math:`w = \log z` (an exponentially convergent trapezoid
      rule, 48–300 nodes: 6·(half log-width)/0.6 + 24); m is found by Newton continuation along
      it and polished by vectorised Newton;
    * each contour node is a complex "mode" :math:`(z_q, a_q, b_q)` with
      :math:`\mathcal F(r) - F_0 = \operatorname{Im}\sum_q a_q g(z_q)^r` and
      :math:`\mathcal K(r) = \gamma^2 B \operatorname{Im}\sum_q b_q g(z_q)^r`, so the Volterra
      equation is *the same per-mode recursion* as :func:`scalinglab.models.plrf.theory.exact_loss`
      (with the B(B+1) fourth-moment factor in g), advanced on a geometric time grid by blocks
      with closed-form geometric sums.

    Self-checks (kept in :class:`DESpectrum`): the contour reproduces the forcing mass
    :math:`\sum_j\lambda_j b_j^2 - F_0` and the kernel mass :math:`\operatorname{tr}K^2`.

Tier ``"asymptotic"``
    :math:`\mathcal P \approx F_0 + F_{pp} + F_{ac} + K_{pp}/(\gamma B)` (plrf.md §4), each term
    returned separately (:data:`ASYMPTOTIC_TERMS`). ``"Kpp"`` is the SGD-noise term *as it
    enters the loss*, :math:`\mathcal K_{pp}(r)\sum_{s<r} F_{pp}(s)`, which for 2β > 1 is
    :math:`\mathcal K_{pp}(r)\sum_j j^{-2\beta}/(2\gamma B) \propto K_{pp}/(\gamma B)`.

References
----------
E. Paquette, C. Paquette, L. Xiao, J. Pennington, arXiv:2405.15074 (2024).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.errors import DomainError, SpecError
from scalinglab.numerics import geometric_block_sums, power_sum, projection_error, solve_df, sum_nodes

from ..base import Curves, Point
from .params import ambient_dim

__all__ = [
    "ASYMPTOTIC_TERMS", "theory", "de_spectrum", "de_loss", "asymptotic_terms", "DESpectrum",
    "power_sum", "loss_floor_de", "kernel_norm_de",
]

#: Extra variables of tier ``"asymptotic"`` (plrf.md §4): the floor F0, the pure-point forcing
#: Fpp, the absolutely-continuous ("feature embedding") forcing Fac, and "Kpp" = the SGD-noise
#: term K_pp/(γB) as it enters the loss.
ASYMPTOTIC_TERMS: tuple[str, ...] = ("F0", "Fpp", "Fac", "Kpp")

_J0 = 48           # exact terms of every sum over j
_PANEL = 0.5       # width (in log j) of a Gauss–Legendre panel of the tail
_ORDER = 8         # Gauss–Legendre nodes per panel
_HEIGHT = 0.6      # half-height (radians) of the log-z ellipse contour
_REL_STEP = 0.03   # time blocks h <= _REL_STEP * r (the exact tier uses 0.005)


# --------------------------------------------------------------------------------------------
# Sums over j <= v without O(v) work
# --------------------------------------------------------------------------------------------

def _jnodes(v: int, panel: float = _PANEL) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes for sums over j <= v (:func:`scalinglab.numerics.sum_nodes`)."""
    return sum_nodes(int(v), _J0, panel, _ORDER)


# --------------------------------------------------------------------------------------------
# Deterministic equivalent of the spectrum of K = W^T D W
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DESpectrum:
    r"""The deterministic-equivalent forcing and kernel measures of one (α, β, N, v), as complex modes.

    Attributes
    ----------
    z : ndarray, complex, shape (n_q,)
        Contour nodes (upper half-plane).
    a, b : ndarray, complex, shape (n_q,)
        Mode weights: :math:`\mathcal F(r) - F_0 = \operatorname{Im}\sum_q a_q g(z_q)^r`,
        :math:`\sum_k \lambda_k^2 g(\lambda_k)^r = \operatorname{Im}\sum_q b_q g(z_q)^r`.
    m : ndarray, complex, shape (n_q,)
        The Silverstein function m(z) at the nodes.
    F0 : float
        The floor :math:`\sum_j\lambda_j b_j^2/(1+\tau\lambda_j)` (point mass at 0).
    total : float
        :math:`\mathcal P(0) = \sum_{j\le v}\lambda_j b_j^2`.
    tau : float
        :math:`\tau = -\lim_{z\to0} m(z)/z`, root of :math:`\sum_j \tau\lambda_j/(1+\tau\lambda_j) = N`.
    lam_min, lam_max : float
        Spectral edges of the deterministic equivalent.
    trK2 : float
        :math:`\sum_j\lambda_j^2 + (\sum_j\lambda_j)^2/N`, the deterministic-equivalent value of
        :math:`\operatorname{tr}K^2` (exact mean: :math:`(1+1/N)\sum_j\lambda_j^2 + (\sum_j\lambda_j)^2/N`),
        the kernel mass the contour should reproduce.
    """

    z: np.ndarray
    a: np.ndarray
    b: np.ndarray
    m: np.ndarray
    F0: float
    total: float
    tau: float
    lam_min: float
    lam_max: float
    trK2: float

    @property
    def forcing_mass(self) -> float:
        """Contour estimate of the non-zero forcing mass, to compare with ``total - F0``."""
        return float(np.sum(self.a).imag)

    @property
    def kernel_mass(self) -> float:
        """Contour estimate of :math:`\\sum_k \\lambda_k^2`, to compare with ``trK2``."""
        return float(np.sum(self.b).imag)


class _Sums:
    """Vectors over the j-nodes for one (alpha, beta, v)."""

    def __init__(self, alpha: float, beta: float, v: int) -> None:
        # The resonance of 1/(lam_j m - z) sits ~|arg u|/(2 alpha) off the real log-j axis:
        # narrower panels for large alpha.
        x, w = _jnodes(int(v), panel=_PANEL * min(1.0, 1.0 / alpha))
        self.lam = x ** (-2.0 * alpha)
        self.w = w
        self.wl = w * self.lam
        self.wl2 = self.wl * self.lam
        self.wlb = w * x ** (-2.0 * alpha - 2.0 * beta)
        self.trD = float(np.sum(self.wl))
        self.total = float(np.sum(self.wlb))

    def z_of_u(self, u: float, d: float) -> float:
        """Inverse Stieltjes map, real u: z(u) = 1/u - (1/d) sum_j lam_j/(lam_j u - 1)."""
        return 1.0 / u - float(self.wl @ (1.0 / (self.lam * u - 1.0))) / d

    def crit(self, u: float, d: float) -> float:
        """u^2 z'(u): zero at the spectral edges."""
        q = self.lam * u
        return float(self.w @ (q / (q - 1.0)) ** 2) / d - 1.0


def _solve_tau(S: _Sums, d: float) -> float:
    r"""Root of :math:`\sum_j \tau\lambda_j/(1+\tau\lambda_j) = d` (v > d): τ = 1/κ with df(κ) = d."""
    return float(1.0 / solve_df(S.lam, d, weights=S.w))


def _newton_m(S: _Sums, z: np.ndarray, m: np.ndarray, d: float, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised Newton on F(m) = m + (m/d) sum wl/(lam m - z) - 1; returns (m, |F|)."""
    for _ in range(iters):
        inv = 1.0 / (S.lam[None, :] * m[:, None] - z[:, None])
        s1 = inv @ S.wl
        s2 = (inv * inv) @ S.wl
        F = m + m * s1 / d - 1.0
        m = m - F / (1.0 - z * s2 / d)
    inv = 1.0 / (S.lam[None, :] * m[:, None] - z[:, None])
    res = np.abs(m + m * (inv @ S.wl) / d - 1.0)
    return m, res


def de_spectrum(alpha: float, beta: float, N: float, v: int, *, gamma: float | None = None, B: int = 1,
                n_nodes: int | None = None, height: float = _HEIGHT) -> DESpectrum:
    r"""Deterministic-equivalent forcing and kernel of PLRF as complex contour modes.

    .. math::

        m(z) + \frac{m(z)}{N}\sum_{j\le v}\frac{\lambda_j}{\lambda_j m(z) - z} = 1,\qquad
        s_F = \sum_{j\le v}\frac{\lambda_j b_j^2}{\lambda_j m - z},\qquad s_K = N z(1-m) + \operatorname{tr}D.

    Parameters
    ----------
    alpha, beta : float
        Exponents, 2(α+β) > 1.
    N, v : float, int
        Parameters (the paper's d) and ambient dimension, v > N.
    gamma, B : float, int, optional
        When given, the contour is kept inside |g(z)| < 1 (plrf.md §7.5).
    n_nodes : int, optional
        Contour nodes; default grows with the log-width of the spectrum.
    height : float
        Half-height of the ellipse in log z (radians).

    Returns
    -------
    DESpectrum
    """
    from scipy.optimize import brentq  # here, not at module level: every PLRF spec imports this module

    d = float(N)
    S = _Sums(alpha, beta, v)
    tau = _solve_tau(S, d)
    F0 = projection_error(S.lam, S.wlb / S.w, d, weights=S.w, kappa=1.0 / tau)
    # Left edge: critical point of z(u) on (-inf, -tau); right edge: on (0, 1/lam_1).
    lo = -2.0 * tau
    while S.crit(lo, d) < 0:
        lo *= 2.0
    u_left = brentq(lambda u: S.crit(u, d), lo, -tau, xtol=1e-14 * tau, rtol=1e-12)
    lam_min = S.z_of_u(u_left, d)
    u_right = brentq(lambda u: S.crit(u, d), 1e-300, 1.0 - 1e-12, xtol=1e-15, rtol=1e-12)
    lam_max = S.z_of_u(u_right, d)
    x0 = 0.5 * lam_min
    x1 = 1.5 * lam_max
    if gamma is not None:  # keep the right crossing where 0 < g(x1) < 1
        if not gamma * (B + 1) * lam_max < 2.0:
            raise DomainError("plrf.de", "lr_scale*batch", (gamma, B),
                              f"gamma (B+1) lambda_max < 2 (lambda_max = {lam_max:.4g} under the DE; plrf.md §7.4)",
                              "Lower lr_scale or batch")
        x1 = min(x1, 0.5 * (lam_max + 2.0 / (gamma * (B + 1))))
    # m on the real axis at the right crossing: u in (0, u_right) with z(u) = x1 (z decreasing in u).
    u1 = brentq(lambda u: S.z_of_u(u, d) - x1, 1e-300, u_right, xtol=1e-300, rtol=1e-14)
    m_start = u1 * x1
    l0, l1 = np.log(x0), np.log(x1)
    c, A = 0.5 * (l0 + l1), 0.5 * (l1 - l0)
    if n_nodes is None:
        n_nodes = int(np.clip(np.ceil(6.0 * A / height + 24.0), 48, 1024))
    phi = np.pi * (np.arange(n_nodes) + 0.5) / n_nodes  # right end (phi ~ 0) to left end (phi ~ pi)
    w = c + A * np.cos(phi) + 1j * height * np.sin(phi)
    z = np.exp(w)
    dz = z * (-A * np.sin(phi) + 1j * height * np.cos(phi))
    if gamma is not None:
        q = _one_minus_g(z, gamma, B)
        if not np.all(np.abs(q) ** 2 - 2.0 * q.real < 0.0):  # |g|^2 - 1 without cancellation
            raise DomainError("plrf.de", "lr_scale*batch", (gamma, B),
                              "|g(z)| < 1 on the contour (gamma (B+1) lambda_max < 2, plrf.md §7.4)",
                              "Lower lr_scale or batch")
    # Newton continuation along the contour, then a vectorised polish.
    m = np.empty(n_nodes, dtype=np.complex128)
    mk = complex(m_start)
    for k in range(n_nodes):
        if k >= 3:
            mk = 3.0 * m[k - 1] - 3.0 * m[k - 2] + m[k - 3]
        elif k >= 1:
            mk = m[k - 1]
        steps = 12 if k == 0 else 1
        zk = z[k]
        for _ in range(steps):
            inv = 1.0 / (S.lam * mk - zk)
            s1 = S.wl @ inv
            s2 = S.wl @ (inv * inv)
            mk = mk - (mk + mk * s1 / d - 1.0) / (1.0 - zk * s2 / d)
        m[k] = mk
    m, res = _newton_m(S, z, m, d, iters=3)
    if not np.all(res < 1e-10):
        m, res = _newton_m(S, z, m, d, iters=20)
        if not np.all(res < 1e-9):
            raise RuntimeError(f"plrf.de: m(z) did not converge (max residual {res.max():.2e})")
    inv = 1.0 / (S.lam[None, :] * m[:, None] - z[:, None])
    sF = inv @ S.wlb
    sK = d * z * (1.0 - m) + S.trD
    a = -sF * dz / n_nodes
    b = -sK * dz / n_nodes
    mass = float(np.sum(a).imag)
    if not abs(mass - (S.total - F0)) <= 1e-4 * S.total:  # the contour must enclose the whole spectrum
        raise RuntimeError(f"plrf.de: contour forcing mass {mass:.6g} != {S.total - F0:.6g} "
                           f"(alpha={alpha}, beta={beta}, N={N}, v={v})")
    trK2 = float(np.sum(S.wl2)) + S.trD**2 / d
    return DESpectrum(z=z, a=a, b=b, m=m, F0=F0, total=S.total, tau=tau, lam_min=lam_min, lam_max=lam_max,
                      trK2=trK2)


def _one_minus_g(z: np.ndarray, gamma, B: int) -> np.ndarray:
    r""":math:`q = 1 - g(z) = 2\gamma B z - \gamma^2 B(B+1) z^2`, computed without cancellation."""
    return 2.0 * gamma * B * z - gamma**2 * B * (B + 1) * z**2


def _log1m(q: np.ndarray) -> np.ndarray:
    """log(1 - q) for complex q, accurate for tiny |q| (numpy's complex log1p is not)."""
    re = 0.5 * np.log1p(np.abs(q) ** 2 - 2.0 * q.real)
    return re + 1j * np.arctan2(-q.imag, 1.0 - q.real)


def kernel_norm_de(spec: DESpectrum, gamma: float, B: int) -> float:
    r""":math:`\|\mathcal K\|_1 = \gamma^2 B\sum_k \lambda_k^2/(1-g(\lambda_k))` under the DE measure."""
    return float(gamma**2 * B * np.sum(spec.b / _one_minus_g(spec.z, gamma, B)).imag)


def loss_floor_de(spec: DESpectrum, gamma: float, B: int) -> float:
    r"""Limit :math:`\mathcal P(\infty) = F_0/(1-\|\mathcal K\|_1)` under the DE."""
    return spec.F0 / (1.0 - kernel_norm_de(spec, gamma, B))


def _step_plan(t_max: int, rel_step: float) -> tuple[np.ndarray, np.ndarray]:
    """Block sizes from the ladder {floor(2^(i/4))}: the largest rung <= max(1, rel_step*r).

    Returns ``(rungs, level)``: the distinct block sizes used and, per block, its rung index.
    Steps are 1 until r = 1/rel_step, so early checkpoints are hit exactly.
    """
    ladder = np.unique(np.floor(2.0 ** (np.arange(0, 4 * 62) / 4.0)).astype(np.int64)).tolist()
    import bisect

    level: list[int] = []
    r = 0
    while r < t_max:
        k = bisect.bisect_right(ladder, max(1.0, rel_step * r)) - 1
        level.append(k)
        r += ladder[k]
    lv = np.asarray(level, dtype=np.int64)
    used = np.unique(lv)
    rungs = np.asarray(ladder, dtype=np.int64)[used]
    return rungs, np.searchsorted(used, lv)


def _interp_loglog(rs: np.ndarray, Ps: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Cubic Lagrange interpolation of log P against log r at checkpoints t (exact where t is a node)."""
    out = np.empty((Ps.shape[1], t.size))
    idx = np.searchsorted(rs, t)
    hit = (idx < rs.size) & (rs[np.minimum(idx, rs.size - 1)] == t)
    out[:, hit] = Ps[idx[hit]].T
    miss = ~hit
    if np.any(miss):
        tm = t[miss].astype(np.float64)
        lo = np.clip(idx[miss] - 2, 1, rs.size - 4)
        sten = lo[:, None] + np.arange(4)[None, :]               # (n_miss, 4)
        x = np.log(rs[sten].astype(np.float64))                  # (n_miss, 4)
        y = np.log(Ps[sten])                                     # (n_miss, 4, n_N)
        xt = np.log(tm)[:, None]
        w = np.ones_like(x)
        for i in range(4):
            for j in range(4):
                if i != j:
                    w[:, i] *= (xt[:, 0] - x[:, j]) / (x[:, i] - x[:, j])
        out[:, miss] = np.exp(np.einsum("mk,mkn->nm", w, y))
    return out


def _volterra(z: np.ndarray, a: np.ndarray, b: np.ndarray, F0: np.ndarray, gamma: np.ndarray, B: int,
              t: np.ndarray, rel_step: float = _REL_STEP) -> np.ndarray:
    r"""Solve the Volterra equation for several N at once with complex contour modes.

    Per-mode recursion (plrf.md §3), for each row (one N):

    .. math::

        u_q(r+1) = g_q u_q(r) + \gamma^2 B\, b_q \mathcal P(r),\quad u_q(0) = a_q,\quad
        \mathcal P(r) = F_0 + \operatorname{Im}\sum_q u_q(r),

    advanced by blocks of h steps with :math:`\mathcal P` linear across the block (closed-form
    geometric sums and a scalar implicit equation per row), as in ``plrf.theory.exact_loss``:

    .. math::

        u(r+h) = g^h u + \gamma^2 B b\,[P_0 S_0 + (P_1-P_0) S_1/h],\quad
        S_0 = \tfrac{1-g^h}{1-g},\ S_1 = \tfrac{h-S_0}{1-g}.

    Block sizes come from a ladder of ~4 rungs per octave (h ≤ rel_step·r), so the geometric sums
    are precomputed once per rung; checkpoints past the unit-step range (r > 1/rel_step) are
    read off by cubic interpolation of log P in log r. At the default rel_step = 0.03 the curves
    agree with rel_step = 0.003 and 600 contour nodes to ≤ 1e-4 (relative), and with the direct
    O(r²) recursion to ≤ 2e-4 (tests/models/test_plrf_de.py).

    Parameters
    ----------
    z, a, b : complex ndarray, shape (n_N, n_q)
    F0, gamma : ndarray, shape (n_N,)
    t : int ndarray, shape (n_t,)

    Returns
    -------
    ndarray, shape (n_N, n_t)
    """
    t = np.asarray(t, dtype=np.int64)
    gam = gamma[:, None]
    q = _one_minus_g(z, gam, B)
    q = np.where(q == 0, 1e-300, q)  # padded modes (z = 0, a = b = 0)
    log_g = _log1m(q)
    coef = gam**2 * B * b
    rungs, level = _step_plan(int(max(t.max(), 1)), rel_step)
    h = rungs.astype(np.float64)[:, None, None]                 # (n_h, 1, 1)
    GH, S0, S1 = geometric_block_sums(q[None], log_g[None], h, small=1e-4)
    C1 = coef[None] * S1 / h
    C0 = coef[None] * (S0 - S1 / h)
    DEN = 1.0 - C1.sum(axis=2).imag                             # (n_h, n_N)
    u = a.copy()
    P = F0 + u.sum(axis=1).imag
    Ps = np.empty((level.size + 1, z.shape[0]))
    Ps[0] = P
    for k, lv in enumerate(level.tolist()):
        base = GH[lv] * u
        base += C0[lv] * P[:, None]
        P = (F0 + base.sum(axis=1).imag) / DEN[lv]
        u = base + C1[lv] * P[:, None]
        Ps[k + 1] = P
    rs = np.concatenate([[0], np.cumsum(rungs[level])])
    return _interp_loglog(rs, Ps, t)


# --------------------------------------------------------------------------------------------
# Tiers
# --------------------------------------------------------------------------------------------

def _setup(alpha: float, beta: float, N: float, params) -> tuple[int, float, int]:
    if not 2.0 * (alpha + beta) > 1.0:
        raise DomainError("plrf", "(alpha, beta)", (alpha, beta), "2(alpha+beta) > 1 (finite target norm)")
    if not alpha > 0:
        raise DomainError("plrf", "alpha", alpha, "a float in (0, inf)")
    if not (np.isfinite(N) and N >= 2):
        raise DomainError("plrf", "N", N, "a finite number >= 2")
    v = ambient_dim(N, params)
    if v <= N:
        raise SpecError("plrf.params", "v_ratio", params.v_ratio, "v = v_ratio*N > N")
    gamma = params.lr_scale / power_sum(2.0 * alpha, v)
    return v, gamma, int(params.batch)


def de_loss(alpha: float, beta: float, N: np.ndarray, t: np.ndarray, params, *,
            rel_step: float = _REL_STEP, n_nodes: int | None = None) -> np.ndarray:
    r"""Deterministic-equivalent expected loss :math:`\mathcal P(t)` for each N, shape (n_N, n_t).

    Same v, γ, B as :func:`scalinglab.models.plrf.theory.exact_loss` (see the module docstring).

    Parameters
    ----------
    alpha, beta : float
        Exponents, 2(α+β) > 1.
    N : array_like, shape (n_N,)
        Parameter counts (the paper's d); one contour per N, one vectorised time loop for all.
    t : int ndarray, shape (n_t,)
        Checkpoints (steps r), ≥ 0.
    params : plrf.Params
        ``v_ratio``, ``lr_scale``, ``batch`` are used.
    rel_step, n_nodes : optional
        Time-block size h ≤ rel_step·r and contour nodes (defaults: accuracy ~1e-4).

    Raises
    ------
    DomainError
        2(α+β) ≤ 1, α ≤ 0, or an unstable step (γ(B+1)λ_max ≥ 2 or ‖𝒦‖₁ ≥ 1 under the DE).
    """
    N = np.atleast_1d(np.asarray(N, dtype=np.float64))
    specs, gammas = [], []
    B = int(params.batch)
    for n in N:
        v, gamma, B = _setup(alpha, beta, n, params)
        spec = de_spectrum(alpha, beta, n, v, gamma=gamma, B=B, n_nodes=n_nodes)
        knorm = kernel_norm_de(spec, gamma, B)
        if not knorm < 1.0:
            raise DomainError("plrf.de", "lr_scale", params.lr_scale,
                              f"kernel norm < 1 (got {knorm:.3g} at alpha={alpha:g}, N={n:g}, batch={B}; plrf.md §7.4)",
                              "Lower lr_scale or batch")
        specs.append(spec)
        gammas.append(gamma)
    n_q = max(s.z.size for s in specs)
    shape = (N.size, n_q)
    z = np.zeros(shape, dtype=np.complex128)
    a = np.zeros(shape, dtype=np.complex128)
    b = np.zeros(shape, dtype=np.complex128)
    for i, s in enumerate(specs):
        k = s.z.size
        z[i, :k], a[i, :k], b[i, :k] = s.z, s.a, s.b
    F0 = np.array([s.F0 for s in specs])
    return _volterra(z, a, b, F0, np.asarray(gammas), B, t, rel_step=rel_step)


def _f0(S: _Sums, d: float) -> float:
    """F0 = sum_j lambda_j b_j^2/(1 + tau lambda_j) (:func:`scalinglab.numerics.projection_error`)."""
    return projection_error(S.lam, S.wlb / S.w, d, weights=S.w)


def asymptotic_terms(alpha: float, beta: float, N: float, r: np.ndarray, params) -> dict[str, np.ndarray]:
    r"""The §4 terms of plrf.md at steps r (float array, r > 0), for one N.

    .. math::

        F_0 = \sum_{j\le v}\frac{j^{-2\alpha-2\beta}}{1+\tau j^{-2\alpha}},\qquad
        F_{pp} = \frac{1}{2\alpha}\Gamma\!\Big(1+\frac{2\beta-1}{2\alpha}\Big)
        (2\gamma B r)^{-\frac{2\alpha+2\beta-1}{2\alpha}},

        F_{ac} = \frac{\sum_{j\le v} j^{-2\beta}}{N}\,\frac{1}{2\alpha}\Gamma\!\Big(1-\frac1{2\alpha}\Big)
        (2\gamma B r)^{-1+\frac1{2\alpha}}\quad(2\alpha>1,\ 2\beta>1;\ \text{else } 0),

        \mathcal K_{pp} = \frac{\gamma^2 B}{2\alpha}\Gamma\!\Big(2-\frac1{2\alpha}\Big)
        (2\gamma B r)^{-2+\frac1{2\alpha}},

        \text{Kpp} = \mathcal K_{pp}(r)\,\frac{1}{2\gamma B}
        \sum_{j\le v} j^{-2\beta}\big(1-e^{-2\gamma B r j^{-2\alpha}}\big).

    The last factor is :math:`\sum_{s<r}F_{pp}(s)` (the authors' ``cumsum(F_pp)``), equal to
    :math:`\sum_j j^{-2\beta}/(2\gamma B)` once 2γBr ≫ 1 when 2β > 1. "Kpp" is set to 0 for
    α ≤ 1/4, where :math:`\sum_j j^{-4\alpha}` diverges and the paper's kernel bound is
    missing (Phase Ic is conditional, plrf.md §4).

    These are ≍ statements: the sum tracks the ``de`` curve only up to O(1) factors (measured
    asymptotic/de between 0.3 and 0.95 for t ≥ 10, N = 1e3–1e5, α ∈ {0.75, 1}; it omits the
    1/(1 − ‖𝒦‖₁) amplification of the floor and the self-consistent part of 𝒦∗𝒫). Exponents,
    not constants, are what the phase table uses (:mod:`scalinglab.models.plrf.phases`).

    Returns
    -------
    dict with keys ``"loss"`` and :data:`ASYMPTOTIC_TERMS`, arrays of r's shape.
    """
    from scipy.special import gamma as _gamma_fn

    v, gamma, B = _setup(alpha, beta, N, params)
    r = np.asarray(r, dtype=np.float64)
    S = _Sums(alpha, beta, v)
    F0 = _f0(S, float(N))
    a2 = 2.0 * alpha
    x = 2.0 * gamma * B * r
    Fpp = _gamma_fn(1.0 + (2.0 * beta - 1.0) / a2) / a2 * x ** (-(a2 + 2.0 * beta - 1.0) / a2)
    if a2 > 1.0 and 2.0 * beta > 1.0:
        sb = float(S.w @ (S.lam ** (beta / alpha)))  # sum_j j^(-2 beta)
        Fac = sb / float(N) * _gamma_fn(1.0 - 1.0 / a2) / a2 * x ** (-1.0 + 1.0 / a2)
    else:
        Fac = np.zeros_like(x)
    if alpha > 0.25:
        Kpp_kernel = gamma**2 * B * _gamma_fn(2.0 - 1.0 / a2) / a2 * x ** (-2.0 + 1.0 / a2)
        jb = S.w * S.lam ** (beta / alpha)
        cum = (-np.expm1(-np.multiply.outer(x, S.lam))) @ jb / (2.0 * gamma * B)
        Kpp = Kpp_kernel * cum
    else:
        Kpp = np.zeros_like(x)
    F0a = np.full_like(x, F0)
    return {"loss": F0a + Fpp + Fac + Kpp, "F0": F0a, "Fpp": Fpp, "Fac": Fac, "Kpp": Kpp}


def theory(point: Point, *, tier: str) -> Curves:
    """Loss curves of tier ``"de"`` ({"loss"}) or ``"asymptotic"`` ({"loss", *ASYMPTOTIC_TERMS}), each (n_N, n_t)."""
    p = point.params
    if tier in ("deterministic_equivalent", "de"):
        loss = de_loss(point.alpha, point.beta, point.N, point.t, p)
        return Curves({"loss": loss}, source="deterministic_equivalent")
    if tier == "asymptotic":
        t = point.t
        names = ("loss", *ASYMPTOTIC_TERMS)
        vals = {k: np.empty((point.N.size, t.size)) for k in names}
        flag = np.zeros((point.N.size, t.size), dtype=bool)
        pos = t > 0
        for i, n in enumerate(point.N):
            terms = asymptotic_terms(point.alpha, point.beta, n, t[pos].astype(np.float64), p)
            for k in names:
                vals[k][i, pos] = terms[k]
            if not np.all(pos):  # r = 0: the initial loss, booked in Fpp (not an asymptotic value)
                v = _setup(point.alpha, point.beta, n, p)[0]
                S = _Sums(point.alpha, point.beta, v)
                F0 = _f0(S, float(n))
                vals["loss"][i, ~pos] = S.total
                vals["F0"][i, ~pos] = F0
                vals["Fpp"][i, ~pos] = S.total - F0
                vals["Fac"][i, ~pos] = 0.0
                vals["Kpp"][i, ~pos] = 0.0
            # outside the window of the asymptotics: gamma B t beyond N^(2 alpha), or t = 0
            v, gamma, B = _setup(point.alpha, point.beta, n, p)
            flag[i] = (gamma * B * t > float(n) ** (2.0 * point.alpha)) | ~pos
        flags = {"loss": flag}
        if point.alpha <= 0.25:
            flags["Kpp"] = np.ones_like(flag)
        return Curves(vals, source="asymptotic", flags=flags)
    raise SpecError("spec.params", "theory", tier, "one of ('deterministic_equivalent', 'asymptotic')")
