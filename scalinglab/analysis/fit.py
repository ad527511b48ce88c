"""Robust fits of scaling surfaces: a constant plus a sum of power laws in named variables.

.. math::

    L(x_1, \\dots, x_k) = L_0 + \\sum_j a_j\\, x_j^{-r_j},
    \\qquad a_j \\ge 0,\\; L_0 \\ge 0,

e.g. ``L(t, N) = L0 + a_t t^(-r_t) + a_N N^(-r_N)`` (project symbols, CONVENTIONS.md), with a
``+ a_P P^(-r_P)`` term when P varies. The fit follows Hoffmann et al. (Chinchilla, arXiv
2203.15556, Approach 3) as replicated by Besiroglu et al. (Epoch AI, arXiv 2404.10102): the model
is written in log-sum-exp form

.. math::

    \\log \\hat L = \\operatorname{LSE}(c_1 - r_1 \\log x_1, \\dots, c_k - r_k \\log x_k, e),
    \\qquad a_j = e^{c_j},\\; L_0 = e^{e},

and the **sum** of Huber losses (threshold ``delta``) of the log residuals
``log L_pred - log L`` is minimised by quasi-Newton (BFGS, or Epoch's L-BFGS-B) from many
starts. Confidence intervals come from a bootstrap over points, or over seeds when the loss
carries a seed axis (resample seeds, average, refit).

Starts are picked by *variable projection*: on a grid of exponent vectors the amplitudes and
L0 are linear, and a non-negative least-squares solve (NNLS on relative residuals, which
approximate log residuals) gives them; the Huber objective ranks all grid points and the best
``n_starts`` are polished. Alternatively (``init="grid"``) the full Epoch grid over
(c_j, r_j, e) is ranked by the objective. Internally each log x_j is centred on its mean, which
makes the quasi-Newton problem well conditioned whatever the units of x_j; results are
reported in the caller's units.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
from scipy.special import huber as _sp_huber
from scipy.optimize import minimize, nnls

from scalinglab.errors import SpecError

__all__ = ["ScalingSurface", "grid_points", "huber"]

_WHERE = "ScalingSurface"


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss ``r**2/2`` for ``|r| <= delta``, ``delta*(|r| - delta/2)`` beyond: :func:`scipy.special.huber`."""
    return _sp_huber(delta, r)


def grid_points(
    axes: Sequence[np.ndarray], loss: np.ndarray, seed_axis: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Flatten a loss grid into the ``(X, loss)`` pairs that :meth:`ScalingSurface.fit` takes.

    Parameters
    ----------
    axes : sequence of ndarray
        The coordinate values of each non-seed axis of ``loss``, in order (e.g. ``[N, t]``).
    loss : ndarray
        Shape ``(len(axes[0]), len(axes[1]), ...)``, with one extra seed axis at position
        ``seed_axis`` when given (e.g. ``(n_N, n_seed, n_t)`` with ``seed_axis=1``).
    seed_axis : int or None
        Position of the seed axis in ``loss``.

    Returns
    -------
    X : ndarray, shape (n_points, len(axes))
        Every combination of the axis values (C order).
    y : ndarray, shape (n_points,) or (n_points, n_seed)
    """
    loss = np.asarray(loss, dtype=np.float64)
    axes = [np.asarray(a, dtype=np.float64).ravel() for a in axes]
    if seed_axis is not None:
        if not 0 <= seed_axis < loss.ndim:
            raise SpecError("grid_points", "seed_axis", seed_axis, f"an int in [0, {loss.ndim - 1}]")
        loss = np.moveaxis(loss, seed_axis, -1)
    shape = tuple(len(a) for a in axes)
    core = loss.shape if seed_axis is None else loss.shape[:-1]
    if core != shape:
        raise SpecError("grid_points", "loss.shape", loss.shape, f"axes lengths {shape} (plus a seed axis if seed_axis is set)")
    mesh = np.meshgrid(*axes, indexing="ij")
    X = np.stack([m.ravel() for m in mesh], axis=1)
    y = loss.reshape(X.shape[0], -1) if seed_axis is not None else loss.ravel()
    return X, y


class ScalingSurface:
    """Robust fit of ``L = L0 + sum_j a_j x_j^(-r_j)`` (Chinchilla Approach 3, arXiv 2404.10102).

    .. math::

        \\min_{c, r, e} \\sum_i \\operatorname{Huber}_\\delta\\big(
            \\operatorname{LSE}(c_j - r_j \\log x_{ij}, e) - \\log L_i\\big)

    Parameters
    ----------
    variables : sequence of str
        Names of the columns of ``X`` (e.g. ``("N", "t")``); results are keyed by them.
    irreducible : bool
        Include the constant ``L0 = exp(e) >= 0``. With ``False`` the model is a pure sum of
        power laws (``L0_`` is reported as 0).
    delta : float
        Huber threshold on log residuals (1e-3 in Hoffmann et al. and Epoch AI).
    init : {"varpro", "grid"}
        How starts are chosen: ``"varpro"`` ranks the NNLS-profiled exponent grid;
        ``"grid"`` ranks the full grid ``exponent_grid x amplitude_grid^k x L0_grid`` (Epoch).
    exponent_grid : sequence of float
        Trial exponents for every variable.
    amplitude_grid : sequence of float or None
        ``init="grid"`` only: trial values of ``log a_j`` in the caller's units (Epoch: 0, 5, ..., 25).
        ``None`` uses a unit-free grid: terms worth 3%, 10%, 30%, 100% of the mean loss at the
        geometric-mean point.
    L0_grid : sequence of float or None
        ``init="grid"`` only: trial values of ``log L0`` (Epoch: -1, -0.5, ..., 1). ``None``: log of
        1%, 10%, 30%, 60%, 90% of the smallest loss.
    n_starts : int
        Number of best-ranked starts polished by the optimizer (the full data fit).
    n_starts_bootstrap : int
        Starts per bootstrap refit: the full-data optimum plus the ``n_starts_bootstrap - 1``
        best-ranked starts of the resample (1: the full-data optimum only).
    n_bootstrap : int
        Bootstrap replicates (0: no intervals).
    confidence : float
        Coverage of the percentile intervals, in (0, 1).
    optimizer : {"BFGS", "L-BFGS-B"}
        Polishing method (analytic gradient). ``"L-BFGS-B"`` is Epoch's (it also keeps
        ``log L0 >= min log L - 40``); ``"BFGS"`` (default) reaches the same optimum on the
        Chinchilla data (tests/analysis/test_fit.py) and does not stall: scipy's L-BFGS-B
        calls multithreaded OpenBLAS on tiny matrices, which on a busy 2-core machine cost
        10-20x in wall time in our measurements (unless ``OPENBLAS_NUM_THREADS=1``).
    maxiter : int
        Iteration cap per start.
    random_state : int or None
        Seed of the ``numpy.random.Generator`` used by the bootstrap.

    Attributes
    ----------
    exponents_ : dict of str -> float
        ``r_j``.
    coefficients_ : dict of str -> float
        ``a_j`` (in the caller's units of ``x_j``).
    L0_ : float
        Irreducible loss (0 when ``irreducible=False``).
    loss_ : float
        The minimised sum of Huber losses.
    params_ : ndarray, shape (2k + 1,)
        ``(log a_1..log a_k, r_1..r_k, log L0)`` (last entry ``-inf`` without L0).
    n_points_ : int
        Points used.
    bootstrap_params_ : ndarray, shape (n_bootstrap, 2k + 1)
        The refitted ``params_`` of every replicate.
    exponents_ci_, coefficients_ci_ : dict of str -> (float, float)
        Percentile intervals at ``confidence``.
    L0_ci_ : (float, float)
    exponents_se_, coefficients_se_ : dict of str -> float
        Bootstrap standard deviations.
    L0_se_ : float
    bootstrap_unit_ : str
        ``"points"`` or ``"seeds"``.

    References
    ----------
    Hoffmann et al., arXiv 2203.15556; Besiroglu, Erdil, Barnett, You, arXiv 2404.10102.
    """

    def __init__(
        self,
        variables: Sequence[str] = ("t", "N"),
        *,
        irreducible: bool = True,
        delta: float = 1e-3,
        init: str = "varpro",
        exponent_grid: Sequence[float] = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0),
        amplitude_grid: Sequence[float] | None = None,
        L0_grid: Sequence[float] | None = None,
        n_starts: int = 8,
        n_starts_bootstrap: int = 2,
        n_bootstrap: int = 0,
        confidence: float = 0.9,
        optimizer: str = "BFGS",
        maxiter: int = 2000,
        random_state: int | None = None,
    ) -> None:
        self.variables = variables
        self.irreducible = irreducible
        self.delta = delta
        self.init = init
        self.exponent_grid = exponent_grid
        self.amplitude_grid = amplitude_grid
        self.L0_grid = L0_grid
        self.n_starts = n_starts
        self.n_starts_bootstrap = n_starts_bootstrap
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.optimizer = optimizer
        self.maxiter = maxiter
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        names = tuple(self.variables)
        if len(names) == 0 or len(set(names)) != len(names) or not all(isinstance(v, str) for v in names):
            raise SpecError(_WHERE, "variables", self.variables, "a non-empty sequence of distinct names")
        if not (isinstance(self.delta, (int, float)) and self.delta > 0):
            raise SpecError(_WHERE, "delta", self.delta, "a float in (0, inf)")
        if self.init not in ("varpro", "grid"):
            raise SpecError(_WHERE, "init", self.init, "one of 'varpro', 'grid'")
        if self.optimizer not in ("L-BFGS-B", "BFGS"):
            raise SpecError(_WHERE, "optimizer", self.optimizer, "one of 'L-BFGS-B', 'BFGS'")
        if len(self.exponent_grid) == 0:
            raise SpecError(_WHERE, "exponent_grid", self.exponent_grid, "a non-empty sequence of floats")
        for name, lo in (("n_starts", 1), ("n_starts_bootstrap", 1), ("n_bootstrap", 0), ("maxiter", 1)):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and v >= lo):
                raise SpecError(_WHERE, name, v, f"an int in [{lo}, inf)")
        if not (isinstance(self.confidence, (int, float)) and 0 < self.confidence < 1):
            raise SpecError(_WHERE, "confidence", self.confidence, "a float in (0, 1)")

    # ------------------------------------------------------------------ objective
    def _split(self, theta: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        return theta[..., :k], theta[..., k : 2 * k], (theta[..., 2 * k] if self.irreducible else None)

    def _terms(self, theta: np.ndarray, U: np.ndarray) -> np.ndarray:
        """Log-terms, shape theta.shape[:-1] + (n, k or k+1)."""
        k = U.shape[1]
        c, r, e = self._split(theta, k)
        z = c[..., None, :] - r[..., None, :] * U
        if e is not None:
            z = np.concatenate([z, np.broadcast_to(e[..., None, None], z.shape[:-1] + (1,))], axis=-1)
        return z

    def _objective(self, theta: np.ndarray, U: np.ndarray, logy: np.ndarray) -> tuple[float, np.ndarray]:
        k = U.shape[1]
        z = self._terms(theta, U)
        zmax = z.max(axis=1, keepdims=True)
        w = np.exp(z - zmax)
        s = w.sum(axis=1, keepdims=True)
        pred = (zmax + np.log(s))[:, 0]
        w /= s
        res = pred - logy
        f = float(huber(res, self.delta).sum())
        psi = np.clip(res, -self.delta, self.delta)
        g = np.empty_like(theta)
        pw = psi[:, None] * w[:, :k]
        g[:k] = pw.sum(axis=0)
        g[k : 2 * k] = -(pw * U).sum(axis=0)
        if self.irreducible:
            g[2 * k] = float((psi * w[:, k]).sum())
        return f, g

    def _batch_objective(self, thetas: np.ndarray, U: np.ndarray, logy: np.ndarray) -> np.ndarray:
        out = np.empty(len(thetas))
        for i in range(0, len(thetas), 512):
            z = self._terms(thetas[i : i + 512], U)
            pred = np.logaddexp.reduce(z, axis=-1)
            out[i : i + 512] = huber(pred - logy, self.delta).sum(axis=-1)
        return out

    # ------------------------------------------------------------------ starts
    def _varpro_starts(self, U: np.ndarray, logy: np.ndarray, n: int) -> np.ndarray:
        k = U.shape[1]
        y = np.exp(logy)
        floor = np.log(y.mean()) - 30.0
        grids = list(itertools.product(np.asarray(self.exponent_grid, float), repeat=k))
        thetas = np.empty((len(grids), 2 * k + (1 if self.irreducible else 0)))
        for gi, r in enumerate(grids):
            r = np.asarray(r)
            cols = [np.exp(-r * U)]  # (n, k)
            if self.irreducible:
                cols.append(np.ones((U.shape[0], 1)))
            D = np.concatenate(cols, axis=1) / y[:, None]
            coef, _ = nnls(D, np.ones_like(y))
            with np.errstate(divide="ignore"):
                lc = np.maximum(np.log(coef), floor)
            thetas[gi, :k] = lc[:k]
            thetas[gi, k : 2 * k] = r
            if self.irreducible:
                thetas[gi, 2 * k] = lc[k]
        obj = self._batch_objective(thetas, U, logy)
        return thetas[np.argsort(obj, kind="stable")[:n]]

    def _grid_starts(self, U: np.ndarray, logy: np.ndarray, m: np.ndarray, n: int) -> np.ndarray:
        k = U.shape[1]
        ybar = float(np.exp(logy).mean())
        r_axis = np.asarray(self.exponent_grid, float)
        if self.amplitude_grid is None:
            c_axis = np.log(ybar * np.array([0.03, 0.1, 0.3, 1.0]))
            raw_amp = False
        else:
            c_axis = np.asarray(self.amplitude_grid, float)
            raw_amp = True
        if self.L0_grid is None:
            e_axis = np.log(np.exp(logy).min() * np.array([0.01, 0.1, 0.3, 0.6, 0.9]))
        else:
            e_axis = np.asarray(self.L0_grid, float)
        axes = [c_axis] * k + [r_axis] * k + ([e_axis] if self.irreducible else [])
        thetas = np.array(list(itertools.product(*axes)), dtype=float)
        if raw_amp:  # raw log a_j -> centred c_j = log a_j - r_j m_j
            thetas[:, :k] -= thetas[:, k : 2 * k] * m
        obj = self._batch_objective(thetas, U, logy)
        return thetas[np.argsort(obj, kind="stable")[:n]]

    def _polish(self, starts: np.ndarray, U: np.ndarray, logy: np.ndarray) -> tuple[np.ndarray, float]:
        k = U.shape[1]
        bounds = [(None, None)] * (2 * k)
        if self.irreducible:
            bounds.append((float(logy.min()) - 40.0, None))
        best, best_f = starts[0], np.inf
        if self.optimizer == "L-BFGS-B":
            kw = {"method": "L-BFGS-B", "bounds": bounds,
                  "options": {"maxiter": self.maxiter, "ftol": 1e-14, "gtol": 1e-10}}
        else:
            kw = {"method": "BFGS", "options": {"maxiter": self.maxiter, "gtol": 1e-8}}
        for s in starts:
            res = minimize(self._objective, s, args=(U, logy), jac=True, **kw)
            if np.isfinite(res.fun) and res.fun < best_f:
                best, best_f = res.x, float(res.fun)
        return np.asarray(best, dtype=float), best_f

    def _fit_once(
        self, U: np.ndarray, logy: np.ndarray, m: np.ndarray, n_starts: int, extra: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        """Polish ``extra`` (if given) and the best ``n_starts`` ranked starts (fewer by one with ``extra``)."""
        n_ranked = n_starts - (1 if extra is not None else 0)
        starts = np.empty((0, len(extra) if extra is not None else 0))
        if n_ranked > 0:
            if self.init == "varpro":
                starts = self._varpro_starts(U, logy, n_ranked)
            else:
                starts = self._grid_starts(U, logy, m, n_ranked)
        if extra is not None:
            starts = np.vstack([extra[None, :], starts]) if len(starts) else extra[None, :]
        return self._polish(starts, U, logy)

    # ------------------------------------------------------------------ API
    def fit(self, X: np.ndarray, loss: np.ndarray) -> "ScalingSurface":
        """Fit the surface.

        Parameters
        ----------
        X : ndarray, shape (n_points, k)
            Values of ``variables`` (all > 0), one column each.
        loss : ndarray, shape (n_points,) or (n_points, n_seed)
            Losses (> 0). With a seed axis the fit uses the seed mean and the bootstrap
            resamples seeds.

        Returns
        -------
        self
        """
        self._validate()
        names = tuple(self.variables)
        k = len(names)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1 and k == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != k:
            raise SpecError(_WHERE, "X.shape", X.shape, f"(n_points, {k}) for variables {names}")
        y = np.asarray(loss, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:  # one seed: nothing to resample but points
            y = y[:, 0]
        if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
            raise SpecError(_WHERE, "loss.shape", y.shape, f"({X.shape[0]},) or ({X.shape[0]}, n_seed)")
        if not (np.all(np.isfinite(X)) and np.all(X > 0)):
            raise SpecError(_WHERE, "X", "non-positive or non-finite values", "finite values > 0", "Drop t = 0 checkpoints")
        if not (np.all(np.isfinite(y)) and np.all(y > 0)):
            raise SpecError(_WHERE, "loss", "non-positive or non-finite values", "finite values > 0")
        n_par = 2 * k + (1 if self.irreducible else 0)
        if X.shape[0] <= n_par:
            raise SpecError(_WHERE, "n_points", X.shape[0], f"more than the {n_par} parameters")

        logx = np.log(X)
        m = logx.mean(axis=0)
        U = logx - m
        ymean = y if y.ndim == 1 else y.mean(axis=1)
        theta, f = self._fit_once(U, np.log(ymean), m, self.n_starts, None)
        self.params_ = self._to_raw(theta, m, k)
        self.loss_ = f
        self.n_points_ = int(X.shape[0])
        self.exponents_ = {v: float(self.params_[k + j]) for j, v in enumerate(names)}
        self.coefficients_ = {v: float(np.exp(self.params_[j])) for j, v in enumerate(names)}
        self.L0_ = float(np.exp(self.params_[2 * k]))

        rng = np.random.default_rng(self.random_state)
        B = int(self.n_bootstrap)
        boot = np.empty((B, 2 * k + 1))
        self.bootstrap_unit_ = "seeds" if y.ndim == 2 else "points"
        for b in range(B):
            if y.ndim == 2:
                cols = rng.integers(0, y.shape[1], size=y.shape[1])
                Ub, ly = U, np.log(y[:, cols].mean(axis=1))
            else:
                idx = rng.integers(0, X.shape[0], size=X.shape[0])
                Ub, ly = U[idx], np.log(y[idx])
            tb, _ = self._fit_once(Ub, ly, m, self.n_starts_bootstrap, theta)
            boot[b] = self._to_raw(tb, m, k)
        self.bootstrap_params_ = boot
        q = (0.5 * (1 - self.confidence), 0.5 * (1 + self.confidence))
        if B >= 2:
            lo, hi = np.quantile(boot, q, axis=0)
            amp = np.exp(boot)
            alo, ahi = np.quantile(amp, q, axis=0)
            sd, asd = boot.std(axis=0, ddof=1), amp.std(axis=0, ddof=1)
        else:
            lo = hi = alo = ahi = sd = asd = np.full(2 * k + 1, np.nan)
        self.exponents_ci_ = {v: (float(lo[k + j]), float(hi[k + j])) for j, v in enumerate(names)}
        self.exponents_se_ = {v: float(sd[k + j]) for j, v in enumerate(names)}
        self.coefficients_ci_ = {v: (float(alo[j]), float(ahi[j])) for j, v in enumerate(names)}
        self.coefficients_se_ = {v: float(asd[j]) for j, v in enumerate(names)}
        self.L0_ci_ = (float(alo[2 * k]), float(ahi[2 * k]))
        self.L0_se_ = float(asd[2 * k])
        return self

    @classmethod
    def from_params(cls, variables: Sequence[str], *, L0: float, coefficients: dict[str, float],
                    exponents: dict[str, float]) -> "ScalingSurface":
        """A surface with given (stored) parameters, without fitting: what figures draw from the
        analysis group's numbers."""
        names = tuple(variables)
        k = len(names)
        self = cls(variables=names)
        self.params_ = np.array([np.log(coefficients[v]) for v in names] + [exponents[v] for v in names]
                                + [np.log(L0) if L0 > 0 else -np.inf])
        self.exponents_ = {v: float(exponents[v]) for v in names}
        self.coefficients_ = {v: float(coefficients[v]) for v in names}
        self.L0_ = float(L0)
        self.n_points_ = 0
        if self.params_.shape != (2 * k + 1,):
            raise SpecError(_WHERE, "variables", names, "names with a coefficient and an exponent each")
        return self

    def _to_raw(self, theta: np.ndarray, m: np.ndarray, k: int) -> np.ndarray:
        out = np.empty(2 * k + 1)
        out[:k] = theta[:k] + theta[k : 2 * k] * m
        out[k : 2 * k] = theta[k : 2 * k]
        out[2 * k] = theta[2 * k] if self.irreducible else -np.inf
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The fitted ``L0 + sum_j a_j x_j^(-r_j)`` at the rows of ``X`` (shape (n, k))."""
        if not hasattr(self, "params_"):
            raise SpecError(_WHERE, "state", "unfitted", "a fitted estimator", "Call fit first")
        k = len(tuple(self.variables))
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1 and k == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != k:
            raise SpecError(_WHERE, "X.shape", X.shape, f"(n, {k})")
        z = self.params_[:k] - self.params_[k : 2 * k] * np.log(X)
        return np.exp(z).sum(axis=1) + self.L0_
