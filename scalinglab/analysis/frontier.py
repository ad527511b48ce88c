"""Compute-optimal frontiers: ``N*(C) ∝ C^xi`` and ``L*(C) ∝ C^(-eta)`` at compute ``C = N t B``.

Two routes, both in the project's symbols (CONVENTIONS.md; compute as in Paquette et al.,
arXiv 2405.15074):

* **Approach 1** (Hoffmann et al., arXiv 2203.15556, "fix model sizes, vary training"):
  :class:`ComputeFrontier` takes the loss curves ``L(N, t)`` of one (alpha, beta, P) cell, reads
  every curve at ``t = C/(N B)`` (``log L`` interpolated linearly in ``log t``), takes the minimum
  over N at each C of a log grid, refines it with a parabola in ``log N`` through the discrete
  minimum and its two neighbours, and fits ``log N* = xi log C + c`` and
  ``log(L* - L0) = -eta log C + c'`` by least squares over a compute window.
* **Approach 3** (Hoffmann et al.): :func:`surface_frontier` minimises a fitted surface
  ``L = L0 + a_t t^(-r_t) + a_N N^(-r_N)`` at ``t = C/(N B)`` in closed form:

  .. math::

      N^* = \\Big(\\frac{r_N a_N}{r_t a_t}\\Big)^{1/(r_t+r_N)} (C/B)^{\\xi},\\qquad
      \\xi = \\frac{r_t}{r_t + r_N},\\qquad
      \\eta = \\frac{r_t r_N}{r_t + r_N}.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import special
from scipy.optimize import minimize_scalar

from scalinglab.errors import SpecError

__all__ = [
    "ComputeFrontier",
    "SurfaceFrontier",
    "frontier_exponents",
    "frontier_points",
    "surface_frontier",
]

_WHERE = "ComputeFrontier"


def frontier_exponents(r_t: float, r_N: float) -> tuple[float, float]:
    """Compute-optimal exponents of ``L = L0 + a_t t^(-r_t) + a_N N^(-r_N)`` at ``C = N t B``.

    .. math::

        \\xi = \\frac{r_t}{r_t + r_N}, \\qquad \\eta = \\frac{r_t r_N}{r_t + r_N}

    (Hoffmann et al., arXiv 2203.15556, Approach 3 with ``D ∝ t``.)

    Returns
    -------
    (xi, eta) : tuple of float
    """
    if not (r_t > 0 and r_N > 0):
        raise SpecError("frontier_exponents", "(r_t, r_N)", (r_t, r_N), "both exponents > 0")
    return r_t / (r_t + r_N), r_t * r_N / (r_t + r_N)


def frontier_points(
    N: np.ndarray, t: np.ndarray, loss: np.ndarray, C: np.ndarray, batch_size: float = 1.0, refine: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Minimum over N of the loss at fixed compute ``C = N t B`` (Chinchilla Approach 1).

    Each curve ``log L(N_i, .)`` is interpolated linearly in ``log t`` at ``t = C/(N_i B)``; only
    the N whose checkpoints bracket that t take part. With ``refine`` the discrete minimiser is
    replaced by the vertex of the parabola in ``log N`` through it and its two neighbours (its
    ``log L`` value gives L*), clipped to the neighbours' span.

    Parameters
    ----------
    N : ndarray, shape (n_N,)
        Increasing model sizes (> 0).
    t : ndarray, shape (n_t,)
        Increasing checkpoints (> 0).
    loss : ndarray, shape (n_N, n_t)
        Loss curves (> 0), e.g. a seed mean.
    C : ndarray, shape (n_C,)
        Compute values.
    batch_size : float
        B in ``C = N t B``.
    refine : bool
        Parabolic refinement of N* in ``log N``.

    Returns
    -------
    N_star, L_star : ndarray, shape (n_C,)
        NaN where fewer than 3 N are available at that C.
    edge : ndarray of bool, shape (n_C,)
        True where the discrete minimum sits at the smallest or largest available N (the
        frontier is then a bound, not a minimum).
    n_avail : ndarray of int, shape (n_C,)
        How many N curves reach each C.
    """
    N = np.asarray(N, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    C = np.asarray(C, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        logL = np.log(np.asarray(loss, dtype=np.float64))
    logt, logN = np.log(t), np.log(N)
    # (n_N, n_C): log t at which curve i has compute C
    lt = np.log(C)[None, :] - logN[:, None] - np.log(batch_size)
    # missing (NaN) values: each curve is read between its first and last finite checkpoint
    ok = np.zeros(lt.shape, dtype=bool)
    vals = np.full(lt.shape, np.inf)
    for i in range(len(N)):
        fin = np.isfinite(logL[i])
        if fin.sum() < 2:
            continue
        lti, lLi = logt[fin], logL[i][fin]
        ok[i] = (lt[i] >= lti[0] - 1e-12) & (lt[i] <= lti[-1] + 1e-12)
        vals[i] = np.where(ok[i], np.interp(lt[i], lti, lLi), np.inf)
    n_avail = ok.sum(axis=0)
    j = np.argmin(vals, axis=0)
    N_star = np.full(len(C), np.nan)
    L_star = np.full(len(C), np.nan)
    edge = np.zeros(len(C), dtype=bool)
    for c in range(len(C)):
        if n_avail[c] < 3:
            continue
        avail = np.flatnonzero(ok[:, c])  # contiguous in N unless values are missing
        jc = j[c]
        if jc == avail[0] or jc == avail[-1] or not (ok[jc - 1, c] and ok[jc + 1, c]):
            edge[c] = True
            N_star[c], L_star[c] = N[jc], np.exp(vals[jc, c])
            continue
        if not refine:
            N_star[c], L_star[c] = N[jc], np.exp(vals[jc, c])
            continue
        x = logN[jc - 1 : jc + 2]
        yv = vals[jc - 1 : jc + 2, c]
        a2, a1, a0 = np.polyfit(x, yv, 2)
        if a2 <= 0:
            xv = x[1]
        else:
            xv = float(np.clip(-a1 / (2 * a2), x[0], x[2]))
        N_star[c] = np.exp(xv)
        L_star[c] = np.exp(min(a2 * xv * xv + a1 * xv + a0, yv[1]))
    return N_star, L_star, edge, n_avail


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Slope, intercept and slope standard error of ``y = s x + b``."""
    X = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    n = len(x)
    if n > 2:
        resid = y - X @ coef
        s2 = float(resid @ resid) / (n - 2)
        se = float(np.sqrt(s2 / np.sum((x - x.mean()) ** 2)))
    else:
        se = np.nan
    return float(coef[0]), float(coef[1]), se


class ComputeFrontier:
    """Chinchilla Approach 1 on a loss grid: ``N*(C) ∝ C^xi``, ``L*(C) - L0 ∝ C^(-eta)``.

    The compute grid ``C_`` has ``n_compute`` log-spaced values over every C that at least 3
    N curves reach (``C = N t B``, t inside the checkpoints). The fit window is ``window`` when
    given, otherwise the longest run of consecutive grid values whose minimum is interior
    (not at the smallest or largest available N). Intervals: with a seed axis, a bootstrap over
    seeds (resample seeds, average, recompute the frontier on the same C grid and window, refit),
    reported as a bias-corrected normal interval ``2 est - mean_boot ± z SE`` with
    ``SE = sd_boot sqrt(K/(K-1))``. On synthetic data with K = 6 seeds (3 runs of 20-40 data
    sets, 90% nominal) the plain percentile interval covered the noise-free xi in 75-85% of
    data sets, this one in 80-88% (eta: 82-93%); otherwise
    ``slope ± t_{n-2} SE`` from the regression (which treats the frontier points as
    independent, so it is optimistic: neighbouring points share curves).

    Parameters
    ----------
    n_compute : int
        Number of C values on the log grid.
    window : (float, float) or None
        Compute window ``(C_lo, C_hi)`` of the exponent fits.
    refine : bool
        Parabolic refinement of N* in ``log N`` (see :func:`frontier_points`).
    L0 : float
        Irreducible loss subtracted before the eta fit (``L* - L0 ∝ C^(-eta)``).
    n_bootstrap : int
        Seed-bootstrap replicates (used only when ``loss`` has a seed axis).
    confidence : float
        Interval coverage in (0, 1).
    random_state : int or None
        Seed of the bootstrap Generator.
    interval : {"auto", "bootstrap", "window", "regression"}
        What ``xi_ci_``/``eta_ci_`` are. ``"bootstrap"`` (``"auto"`` with a seed axis): the
        seed bootstrap above. ``"window"``: for deterministic curves, the range (min, max) of the
        exponent over the fit windows {full, first 2/3, middle 2/3, last 2/3} of the window's
        points: the sensitivity to the window, not a confidence interval. ``"regression"``
        (``"auto"`` without seeds): ``slope ± t SE``.

    Attributes
    ----------
    C_, N_star_, L_star_ : ndarray, shape (n_compute,)
        The frontier (NaN where fewer than 3 N reach C).
    edge_ : ndarray of bool, shape (n_compute,)
        N* at the edge of the available N.
    n_available_ : ndarray of int
    window_ : (float, float)
        The compute window actually used (first and last grid C inside it).
    in_window_ : ndarray of bool
    edge_hit_ : bool
        Whether any frontier point used in the fit has N* at the grid edge.
    xi_, eta_ : float
    xi_se_, eta_se_ : float
    xi_ci_, eta_ci_ : (float, float)
    bootstrap_exponents_ : ndarray, shape (n_ok, 2)
        ``(xi, eta)`` of every seed-bootstrap replicate (empty without seeds).
    interval_method_ : str
        ``"seed-bootstrap"``, ``"window-range"`` or ``"regression"``.
    window_exponents_ : ndarray, shape (n_windows, 2)
        ``(xi, eta)`` on each sub-window (``interval="window"`` only; else empty).

    References
    ----------
    Hoffmann et al., arXiv 2203.15556 (Approach 1); Paquette et al., arXiv 2405.15074 (C = N t B).
    """

    def __init__(
        self,
        *,
        n_compute: int = 40,
        window: tuple[float, float] | None = None,
        refine: bool = True,
        L0: float = 0.0,
        n_bootstrap: int = 200,
        confidence: float = 0.9,
        random_state: int | None = None,
        interval: str = "auto",
    ) -> None:
        self.interval = interval
        self.n_compute = n_compute
        self.window = window
        self.refine = refine
        self.L0 = L0
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.random_state = random_state

    def _validate(self) -> None:
        if not (isinstance(self.n_compute, (int, np.integer)) and self.n_compute >= 4):
            raise SpecError(_WHERE, "n_compute", self.n_compute, "an int in [4, inf)")
        if self.window is not None:
            w = tuple(self.window)
            if len(w) != 2 or not (0 < w[0] < w[1]):
                raise SpecError(_WHERE, "window", self.window, "None or (C_lo, C_hi) with 0 < C_lo < C_hi")
        if not (np.isfinite(self.L0) and self.L0 >= 0):
            raise SpecError(_WHERE, "L0", self.L0, "a float in [0, inf)")
        if not (isinstance(self.n_bootstrap, (int, np.integer)) and self.n_bootstrap >= 0):
            raise SpecError(_WHERE, "n_bootstrap", self.n_bootstrap, "an int in [0, inf)")
        if not 0 < self.confidence < 1:
            raise SpecError(_WHERE, "confidence", self.confidence, "a float in (0, 1)")
        if self.interval not in ("auto", "bootstrap", "window", "regression"):
            raise SpecError(_WHERE, "interval", self.interval, "one of 'auto', 'bootstrap', 'window', 'regression'")

    def fit(self, N: np.ndarray, t: np.ndarray, loss: np.ndarray, batch_size: float = 1.0) -> "ComputeFrontier":
        """Measure the frontier and its exponents.

        Parameters
        ----------
        N : ndarray, shape (n_N,)
            Increasing model sizes.
        t : ndarray, shape (n_t,)
            Increasing checkpoints (> 0; a t = 0 column must be dropped by the caller).
        loss : ndarray, shape (n_N, n_t) or (n_N, n_seed, n_t)
            Loss curves of one (alpha, beta, P) cell.
        batch_size : float
            B in ``C = N t B``.

        Returns
        -------
        self
        """
        self._validate()
        N = np.asarray(N, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        loss = np.asarray(loss, dtype=np.float64)
        if N.ndim != 1 or len(N) < 3 or not np.all(np.isfinite(N)) or np.any(N <= 0) or np.any(np.diff(N) <= 0):
            raise SpecError(_WHERE, "N", N.tolist() if N.size < 20 else N.shape, "at least 3 finite increasing values > 0")
        if t.ndim != 1 or len(t) < 2 or np.any(t <= 0) or np.any(np.diff(t) <= 0):
            raise SpecError(_WHERE, "t", t.tolist() if t.size < 20 else t.shape, "at least 2 increasing values > 0", "Drop t = 0")
        if loss.ndim not in (2, 3) or loss.shape[0] != len(N) or loss.shape[-1] != len(t):
            raise SpecError(_WHERE, "loss.shape", loss.shape, f"({len(N)}, {len(t)}) or ({len(N)}, n_seed, {len(t)})")
        # NaN marks a missing value (flagged or excluded upstream); anything else must be finite and > 0
        if not (np.all(np.isfinite(loss) | np.isnan(loss)) and np.all(loss[~np.isnan(loss)] > 0)):
            raise SpecError(_WHERE, "loss", "non-positive or infinite values", "finite values > 0 (NaN = missing)")
        if loss.ndim == 3:  # a point missing in one seed is missing in all (the bootstrap resamples seeds)
            loss = np.where(np.isnan(loss).any(axis=1, keepdims=True), np.nan, loss)
        if not (np.isfinite(batch_size) and batch_size > 0):
            raise SpecError(_WHERE, "batch_size", batch_size, "a float in (0, inf)")

        mean = loss if loss.ndim == 2 else loss.mean(axis=1)
        # C range reached by >= 3 curves: C in [N_i t0_i B, N_i t1_i B] (t0_i, t1_i: first and last finite value)
        lo_i, hi_i = np.full(len(N), np.inf), np.full(len(N), -np.inf)
        for i in range(len(N)):
            fin = np.flatnonzero(np.isfinite(mean[i]))
            if fin.size >= 2:
                lo_i[i], hi_i[i] = N[i] * t[fin[0]] * batch_size, N[i] * t[fin[-1]] * batch_size
        if np.isfinite(lo_i).sum() < 3:
            raise SpecError(_WHERE, "loss", f"{int(np.isfinite(lo_i).sum())} N curve(s) with >= 2 usable values",
                            "at least 3 curves")
        c_lo = np.sort(lo_i)[2]
        c_hi = np.sort(hi_i)[-3]
        if not c_lo < c_hi:
            raise SpecError(_WHERE, "(N, t)", (float(N[0]), float(N[-1]), float(t[0]), float(t[-1])),
                            "a t range wide enough that 3 N curves share a compute value", "Extend t or add N values")
        C = np.geomspace(c_lo, c_hi, self.n_compute)
        Ns, Ls, edge, n_av = frontier_points(N, t, mean, C, batch_size, self.refine)
        valid = np.isfinite(Ns)
        if self.window is not None:
            inw = valid & (C >= self.window[0]) & (C <= self.window[1])
        else:
            inw = np.zeros_like(valid)
            good = valid & ~edge
            best, start = (0, 0), None
            for i, g in enumerate(np.append(good, False)):
                if g and start is None:
                    start = i
                elif not g and start is not None:
                    if i - start > best[1] - best[0]:
                        best = (start, i)
                    start = None
            inw[best[0] : best[1]] = True
        if inw.sum() < 3:
            raise SpecError(_WHERE, "window", self.window, "a compute window holding >= 3 frontier points",
                            f"The frontier is defined for C in [{c_lo:.3g}, {c_hi:.3g}]; interior points: {int((valid & ~edge).sum())}")
        if np.any(Ls[inw] <= self.L0):
            raise SpecError(_WHERE, "L0", self.L0, "a value below every L* in the window")

        self.C_, self.N_star_, self.L_star_, self.edge_, self.n_available_ = C, Ns, Ls, edge, n_av
        self.in_window_ = inw
        self.window_ = (float(C[inw][0]), float(C[inw][-1]))
        self.edge_hit_ = bool(np.any(edge & inw))

        lc = np.log(C[inw])
        self.xi_, _, xi_se = _ols(lc, np.log(Ns[inw]))
        s, _, eta_se = _ols(lc, np.log(Ls[inw] - self.L0))
        self.eta_ = -s
        q = (0.5 * (1 - self.confidence), 0.5 * (1 + self.confidence))
        seeds = loss.ndim == 3 and loss.shape[1] >= 2
        self.window_exponents_ = np.empty((0, 2))
        mode = self.interval if self.interval != "auto" else ("bootstrap" if seeds else "regression")
        if mode == "window":
            idx = np.flatnonzero(inw)
            n = len(idx)
            k = max(3, int(np.ceil(2 * n / 3)))
            subs = [idx, idx[:k], idx[(n - k) // 2:(n - k) // 2 + k], idx[n - k:]]
            ex = np.array([[_ols(np.log(C[w]), np.log(Ns[w]))[0], -_ols(np.log(C[w]), np.log(Ls[w] - self.L0))[0]]
                           for w in subs])
            self.window_exponents_ = ex
            self.xi_ci_ = (float(ex[:, 0].min()), float(ex[:, 0].max()))
            self.eta_ci_ = (float(ex[:, 1].min()), float(ex[:, 1].max()))
            self.xi_se_, self.eta_se_ = xi_se, eta_se
            self.bootstrap_exponents_ = np.empty((0, 2))
            self.interval_method_ = "window-range"
        elif mode == "bootstrap" and seeds and self.n_bootstrap >= 2:
            rng = np.random.default_rng(self.random_state)
            K = loss.shape[1]
            boot = np.full((self.n_bootstrap, 2), np.nan)
            for b in range(self.n_bootstrap):
                m = loss[:, rng.integers(0, K, size=K), :].mean(axis=1)
                nb, lb, _, _ = frontier_points(N, t, m, C[inw], batch_size, self.refine)
                if np.all(lb > self.L0):
                    boot[b, 0] = _ols(lc, np.log(nb))[0]
                    boot[b, 1] = -_ols(lc, np.log(lb - self.L0))[0]
            boot = boot[np.all(np.isfinite(boot), axis=1)]
            self.bootstrap_exponents_ = boot
            # Resampling K seeds with replacement shrinks the variance of their mean by
            # (K - 1)/K; the min over N biases the frontier of a noisy mean, which the
            # bootstrap sees again: centre on est - (mean_boot - est), widen by sqrt(K/(K-1)).
            est = np.array([self.xi_, self.eta_])
            se = boot.std(axis=0, ddof=1) * np.sqrt(K / (K - 1))
            centre = 2 * est - boot.mean(axis=0)
            z = special.ndtri(q[1])  # normal quantile (scipy.special: scipy.stats costs ~0.6 s to import)
            self.xi_se_, self.eta_se_ = float(se[0]), float(se[1])
            self.xi_ci_ = (float(centre[0] - z * se[0]), float(centre[0] + z * se[0]))
            self.eta_ci_ = (float(centre[1] - z * se[1]), float(centre[1] + z * se[1]))
            self.interval_method_ = "seed-bootstrap"
        else:
            n = int(inw.sum())
            z = special.stdtrit(n - 2, q[1]) if n > 2 else np.nan  # Student-t quantile
            self.xi_se_, self.eta_se_ = xi_se, eta_se
            self.xi_ci_ = (self.xi_ - z * xi_se, self.xi_ + z * xi_se)
            self.eta_ci_ = (self.eta_ - z * eta_se, self.eta_ + z * eta_se)
            self.bootstrap_exponents_ = np.empty((0, 2))
            self.interval_method_ = "regression"
        return self


@dataclass(frozen=True)
class SurfaceFrontier:
    """The compute-optimal frontier of a fitted surface (Approach 3).

    Attributes
    ----------
    C, N_star, L_star : ndarray, shape (n_C,)
    xi, eta : float
        Closed-form exponents ``r_t/(r_t+r_N)`` and ``r_t r_N/(r_t+r_N)``.
    """

    C: np.ndarray
    N_star: np.ndarray
    L_star: np.ndarray
    xi: float
    eta: float


def surface_frontier(
    L0: float,
    coefficients: Mapping[str, float],
    exponents: Mapping[str, float],
    C: np.ndarray,
    batch_size: float = 1.0,
    *,
    fixed: Mapping[str, float] | None = None,
    numeric: bool = False,
) -> SurfaceFrontier:
    """Minimise ``L = L0 + a_t t^(-r_t) + a_N N^(-r_N) (+ other terms)`` over N at ``t = C/(N B)``.

    .. math::

        N^*(C) = \\Big(\\frac{r_N a_N}{r_t a_t}\\Big)^{1/(r_t+r_N)} (C/B)^{r_t/(r_t+r_N)},
        \\qquad L^*(C) = L(t = C/(N^* B), N^*)

    Parameters
    ----------
    L0 : float
        Irreducible term.
    coefficients, exponents : mapping str -> float
        ``a_v`` and ``r_v`` keyed by variable name (e.g. ``ScalingSurface.coefficients_``);
        must contain ``"t"`` and ``"N"``.
    C : ndarray, shape (n_C,)
        Compute values.
    batch_size : float
        B in ``C = N t B``.
    fixed : mapping str -> float, optional
        Values of any other variables (e.g. ``{"P": 1e4}``); their terms add a constant.
    numeric : bool
        Minimise over ``log N`` numerically (bounded Brent) instead of the closed form; used to
        check the closed form.

    Returns
    -------
    SurfaceFrontier
    """
    where = "surface_frontier"
    for v in ("t", "N"):
        if v not in exponents or v not in coefficients:
            raise SpecError(where, "variables", sorted(exponents), "a surface with 't' and 'N' terms")
    others = sorted(set(exponents) - {"t", "N"})
    fixed = dict(fixed or {})
    missing = [v for v in others if v not in fixed]
    if missing:
        raise SpecError(where, "fixed", fixed, f"values for the other variables {missing}")
    const = float(L0) + sum(coefficients[v] * float(fixed[v]) ** (-exponents[v]) for v in others)
    a_t, r_t, a_N, r_N = coefficients["t"], exponents["t"], coefficients["N"], exponents["N"]
    xi, eta = frontier_exponents(r_t, r_N)
    if not (a_t > 0 and a_N > 0):
        raise SpecError(where, "(a_t, a_N)", (a_t, a_N), "both coefficients > 0")
    C = np.asarray(C, dtype=np.float64)

    def loss_at(logN: np.ndarray, c: np.ndarray) -> np.ndarray:
        Nv = np.exp(logN)
        return const + a_t * (c / (Nv * batch_size)) ** (-r_t) + a_N * Nv ** (-r_N)

    if numeric:
        logNs = np.empty(len(C))
        for i, c in enumerate(C):
            guess = xi * np.log(c / batch_size)
            res = minimize_scalar(lambda x: float(np.log(loss_at(np.array(x), c) - const)),
                                  bounds=(guess - 40.0, guess + 40.0), method="bounded",
                                  options={"xatol": 1e-10})
            logNs[i] = res.x
    else:
        logNs = (np.log(r_N * a_N / (r_t * a_t)) + r_t * np.log(C / batch_size)) / (r_t + r_N)
    return SurfaceFrontier(C=C, N_star=np.exp(logNs), L_star=loss_at(logNs, C), xi=xi, eta=eta)
