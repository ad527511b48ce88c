r"""BAP: full-batch gradient descent on a random-feature model (Bordelon, Atanasov & Pehlevan 2024).

"A Dynamical Model of Neural Scaling Laws", arXiv:2402.01092 (ICML 2024). Theory note:
``shared/theory/bap.md``. Symbols: project ``alpha, beta`` map to the paper's

.. math::

    b = 2\alpha, \qquad a = 2\alpha + 2\beta, \qquad
    \lambda_k = k^{-b}, \qquad w^{*2}_k = k^{b-a} = k^{-2\beta}, \qquad k = 1..M,

so the per-mode target power is :math:`\lambda_k w^{*2}_k = k^{-a}`.

Model (bap.md §1). Gaussian features :math:`\psi = \Lambda^{1/2} z \in R^M`, target
:math:`y = w^* \cdot \psi`, student :math:`f = w \cdot A\psi/\sqrt N` with a fixed
:math:`A \in R^{N\times M}`, :math:`A_{ij} \sim N(0,1)`, and :math:`w \in R^N` trained from 0 by
full-batch gradient descent on P samples,

.. math::

    w \leftarrow w - \eta\,\frac{2}{P}\,\Phi^T(\Phi w - y), \qquad \Phi = \Psi A^T/\sqrt N,

with test loss :math:`L = E_x (f-y)^2 = v^T\Lambda v` and train loss
:math:`\hat L = \|\Psi v\|^2/P`, where :math:`v = w^* - A^T w/\sqrt N` (no factor 1/2).
``N = inf`` means no projection (w in R^M); ``P = inf`` means the population gradient
(:math:`\hat C = \Lambda`, no training set, ``train_loss`` is NaN).

**Time.** The theory is gradient flow at :math:`\tau = 2\eta t` (t = GD steps, ``lr`` = η);
the simulation is the discrete GD above, exactly. In the eigenbasis of the step matrix the
discrete factor :math:`(1-2\eta e)^t` replaces the flow's :math:`e^{-e\tau}`; the two agree to
within seed noise after about 10 steps (bap.md §1), so compare theory and simulation at
t >~ 10 only.

Theory tiers:

``"dmft"``
    The exact (deterministic-equivalent, finite-M) frequency-domain DMFT of bap.md §2,
    inverted by a fixed-Talbot rule in both frequencies (see ``_bap_dmft``).
``"limit"``
    The :math:`\tau\to\infty` closed forms of bap.md §3 (:func:`late_time_loss`), constant in t.

Scaling exponents (bap.md §3; the tests measure them from :func:`theory`): time
:math:`L \sim t^{-(a-1)/b}`; model size :math:`L \sim N^{-\min(a-1,\, b)}`. **The paper states
min(a-1, 2b) for the model exponent; the theory here and direct simulation give min(a-1, b),
so the two differ when b < a-1** (e.g. a = 5, b = 1.25). Data: :math:`P^{-\min(a-1, 2b)}`.
Compute-optimal (C = N t, m = min(a-1, b)): :math:`N^* \propto C^{(a-1)/(a-1+bm)}`, i.e.
:math:`C^{1/(1+b)}` when m = a-1.

Ensembles (``Params.ensemble = E``): E members with independent A and the same data; the
predictor is the mean of the members' outputs. Theory: :math:`L_E = X + (L_1 - X)/E` with the
shared-data cross-member kernel X (bap.md §4).

References
----------
B. Bordelon, A. Atanasov, C. Pehlevan, "A Dynamical Model of Neural Scaling Laws",
arXiv:2402.01092 (2024).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
import pydantic
from pydantic import BaseModel, Field

from scalinglab.errors import DomainError, SpecError

from . import _bap_dmft as _dmft
from .base import Curves, Point

__all__ = [
    "NAME",
    "Params",
    "resolve_M",
    "check_domain",
    "theory_variables",
    "sim_variables",
    "theory",
    "simulate",
    "cost",
    "late_time_loss",
    "late_time_train_loss",
    "stability_estimate",
    "THEORY_TIERS",
    "SIM_METHODS",
]

NAME = "bap"
THEORY_TIERS = ("dmft", "limit")
SIM_METHODS = ("eigen", "gd")

#: Largest M that :func:`resolve_M` returns (memory: the simulation stores E x N x M floats).
M_CAP = 2**16
#: resolve_M: M >= M_DATA_FACTOR * max(finite N, P) and M >= M_TIME_FACTOR * k_* (see there).
M_DATA_FACTOR, M_TIME_FACTOR = 5, 8
#: check_domain refuses M below these multiples (the truncation then changes the curves).
M_DATA_MIN, M_TIME_MIN = 2, 2
#: Column block of the feature draws; part of the definition of the random stream.
_DRAW_BLOCK = 1024


def _where(field: str) -> str:
    return f"bap.{field}"


class Params(BaseModel, extra="forbid"):
    """The ``[params]`` of the BAP model.

    Attributes
    ----------
    M : int or None
        Number of features (truncation of the spectrum). ``None``: chosen by
        :func:`resolve_M` from the grid (the spec layer stores the resolved value).
    lr : float
        GD learning rate η > 0; theory time is τ = 2·lr·t. Stability needs
        2·lr·λ_max(ΦᵀΦ/P) < 2 (see :func:`stability_estimate`).
    ensemble : int
        E >= 1 members with independent projections A and shared data.
    talbot_nodes : int
        Fixed-Talbot nodes n per frequency (2n-1 nodes, n·(2n-1) kernel entries per τ
        after conjugate symmetry); 8..40. The double sum loses about 0.3 n digits to
        cancellation, so n much above 30 is worse in float64.

    Invalid values raise :class:`scalinglab.errors.SpecError` (not pydantic's
    ValidationError) when built with ``Params(...)``.
    """

    M: int | None = Field(default=None, ge=16)
    lr: float = Field(default=0.5, gt=0.0, allow_inf_nan=False)
    ensemble: int = Field(default=1, ge=1)
    talbot_nodes: int = Field(default=24, ge=8, le=40)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"]) or "params"
            raise SpecError(_where(f"params.{loc}"), loc, err.get("input"), err["msg"].lower()) from None


# ----------------------------------------------------------------------------- domain
def _finite(x: Sequence[float] | np.ndarray | float) -> list[float]:
    return [float(v) for v in np.atleast_1d(np.asarray(x, dtype=np.float64)) if math.isfinite(v)]


def resolve_M(N_max: float, P_max: float, t_max: float, alpha: float, lr: float) -> int:
    r"""Default feature count M for a grid.

    .. math::

        M = \mathrm{pow2}\big(\max(5\max(N, P),\ 8\,k_*,\ 256)\big), \quad
        k_* = \min\big((2\,\mathrm{lr}\,t_{max})^{1/b}, N, P\big), \quad b = 2\alpha,

    over the finite N, P (k_* is the number of modes that can be learned by t_max, so the
    time term only binds when N = P = inf); capped at ``M_CAP`` = 65536 (a grid that needs
    more is then refused by :func:`check_domain`, which names the figure). The simulation
    stores E·N·M + P·N floats per draw (1 GiB at E = 1, N = 4096, M = 32768).
    """
    b = 2.0 * float(alpha)
    need = 256.0
    sizes = _finite([N_max, P_max])
    if sizes:
        need = max(need, M_DATA_FACTOR * max(sizes))
    if t_max > 0 and b > 0:
        need = max(need, M_TIME_FACTOR * _k_star(2.0 * lr * float(t_max), b, N_max, P_max))
    need = min(need, float(M_CAP))
    return int(2 ** math.ceil(math.log2(need) - 1e-12))


def _k_star(tau: float, b: float, N: float, P: float) -> float:
    """Number of modes learnable by time tau: min(tau^(1/b), N, P) (bap.md §3 intuition)."""
    return min(tau ** (1.0 / b), float(N), float(P))


def stability_estimate(alpha: float, M: int, N: float, P: float) -> float:
    r"""A high-side estimate of :math:`\lambda_{max}(\Phi^T\Phi/P)` over draws.

    .. math::

        \hat\lambda = (1 + 2\sqrt{2/N})(1 + 2\sqrt{2/P}) + \mathrm{tr}\Lambda\,(1/N + 1/P),

    i.e. the top mode :math:`\lambda_1 = 1` inflated by about two standard deviations of the
    :math:`\chi^2_N/N` and :math:`\chi^2_P/P` factors that multiply it, plus the bulk shift
    :math:`\mathrm{tr}\Lambda/N + \mathrm{tr}\Lambda/P` (bap.md §6.2). Discrete GD needs
    :math:`\mathrm{lr}\cdot\lambda_{max} < 1`; a few % of draws at the boundary may still exceed it.
    """
    tr = float(np.sum(np.arange(1, int(M) + 1, dtype=np.float64) ** (-2.0 * alpha)))
    invN = 0.0 if math.isinf(N) else 1.0 / N
    invP = 0.0 if math.isinf(P) else 1.0 / P
    return (1 + 2 * math.sqrt(2 * invN)) * (1 + 2 * math.sqrt(2 * invP)) + tr * (invN + invP)


def _resolved(params: Any, N: np.ndarray, P: float, t: np.ndarray, alpha: float) -> Params:
    if not isinstance(params, Params):
        params = Params(**dict(params))
    if params.M is None:
        sizes = _finite(N)
        t_max = float(np.max(t)) if np.size(t) else 0.0
        M = resolve_M(max(sizes) if sizes else math.inf, P, t_max, alpha, params.lr)
        params = params.model_copy(update={"M": M})
    return params


def resolve_params(params: Params, *, alpha: np.ndarray, beta: np.ndarray, N: np.ndarray, P: np.ndarray,
                   t: np.ndarray) -> Params:
    """Spec hook: write one M for the whole grid into the resolved spec (the largest that
    :func:`resolve_M` asks for over the grid), so no default stays silent."""
    if params.M is not None:
        return params
    sizes = _finite(N)
    Ps = [float(p) for p in np.asarray(P, float)]
    M = max(resolve_M(max(sizes) if sizes else math.inf, p, float(np.max(t)), float(a), params.lr)
            for p in Ps for a in np.asarray(alpha, float))
    return params.model_copy(update={"M": int(M)})


def check_domain(alpha: float, beta: float, N: Any, P: float, t: Any, params: Any) -> None:
    r"""Raise :class:`SpecError`/:class:`DomainError` if (alpha, beta, N, P, t, params) is outside the model.

    Conditions (one-line message naming the failed one):

    * ``alpha > 0`` and :math:`a = 2(\alpha+\beta) > 1` (finite initial loss as M → ∞);
    * N: integers >= 1 or ``inf``; P: integer >= 1 or ``inf``; t: integers >= 0;
    * :math:`M \ge 2\max(N, P)` over finite values and
      :math:`M \ge 2\min((2\,\mathrm{lr}\,t_{max})^{1/b}, N, P)` (the modes learnable by
      t_max; otherwise the truncation, not the model, shapes the curves: bap.md §6.4);
    * ``lr * stability_estimate(...) < 1`` at the smallest N (discrete-GD stability).

    For :math:`2\alpha \le 1` (b <= 1: features not trace-class) the point is accepted but a
    ``UserWarning`` says that the results depend on M.
    """
    p = _resolved(params, np.atleast_1d(np.asarray(N, dtype=np.float64)), P, np.atleast_1d(t), alpha)
    if not (math.isfinite(alpha) and alpha > 0):
        raise SpecError(_where("alpha"), "alpha", alpha, "a finite float > 0 (lambda_k = k^(-2 alpha))")
    if not math.isfinite(beta):
        raise SpecError(_where("beta"), "beta", beta, "a finite float")
    if not 2.0 * (alpha + beta) > 1.0:
        raise DomainError(
            _where("beta"), "2(alpha+beta)", 2.0 * (alpha + beta),
            "a = 2(alpha+beta) > 1 (finite target power sum k^-a)", "Raise alpha or beta",
        )
    Ns = np.atleast_1d(np.asarray(N, dtype=np.float64))
    for n in Ns:
        if not (math.isinf(n) and n > 0) and not (n >= 1 and float(n).is_integer()):
            raise SpecError(_where("N"), "N", float(n), "an integer >= 1 or inf")
    if not (math.isinf(P) and P > 0) and not (P >= 1 and float(P).is_integer()):
        raise SpecError(_where("P"), "P", P, "an integer >= 1 or inf")
    ts = np.atleast_1d(np.asarray(t))
    if ts.size == 0 or np.any(ts < 0) or not np.all(np.equal(np.mod(ts, 1), 0)):
        raise SpecError(_where("t"), "t", ts.tolist()[:5], "integers >= 0 (GD steps)")
    M = int(p.M)
    sizes = _finite(list(Ns) + [P])
    if sizes and M < M_DATA_MIN * max(sizes):
        raise DomainError(
            _where("params.M"), "M", M, f">= {M_DATA_MIN}*max(N, P) = {M_DATA_MIN * max(sizes):g}",
            "Raise M (or leave it None); with M < 2 max(N,P) the plateau of the M = inf model disappears",
        )
    b = 2.0 * alpha
    tau_max = 2.0 * p.lr * float(np.max(ts))
    k_star = _k_star(tau_max, b, float(np.max(Ns)), P) if tau_max > 0 else 0.0
    if M < M_TIME_MIN * k_star:
        raise DomainError(
            _where("params.M"), "M", M,
            f">= {M_TIME_MIN}*min((2 lr t_max)^(1/b), N, P) = {M_TIME_MIN * k_star:.4g} (b = 2 alpha = {b:g})",
            "Raise M or lower t_max; otherwise every mode is learned and the truncation sets the loss",
        )
    n_small = float(np.min(Ns))
    lam_hat = stability_estimate(alpha, M, n_small, P)
    if p.lr * lam_hat >= 1.0:
        raise DomainError(
            _where("params.lr"), "lr", p.lr,
            f"lr < 1/lambda_max ~ {1.0 / lam_hat:.4g} (2 lr lambda_max < 2 at N={n_small:g}, P={P:g}, M={M})",
            "Lower lr",
        )
    if 2.0 * alpha <= 1.0:
        warnings.warn(
            f"bap: alpha={alpha!r} has b = 2 alpha <= 1 (features not trace-class): results depend on M={M}",
            UserWarning,
            stacklevel=2,
        )


def theory_variables(params: Any) -> tuple[str, ...]:
    """Names of the arrays :func:`theory` returns: ``("loss", "train_loss")``."""
    return ("loss", "train_loss")


def sim_variables(params: Any) -> tuple[str, ...]:
    """Names of the arrays :func:`simulate` returns: ``("loss", "train_loss")``."""
    return ("loss", "train_loss")


# ----------------------------------------------------------------------------- theory
def late_time_loss(alpha: float, beta: float, N: float, P: float, M: int, ensemble: int = 1) -> float:
    r"""Test loss as :math:`\tau\to\infty` (bap.md §3), closed form.

    With :math:`\mathrm{df}(\kappa)=\sum_k\lambda_k/(\lambda_k+\kappa)`, κ solving
    :math:`\mathrm{df}(\kappa) = \min(N, P)`, :math:`E_1 = \kappa^2\sum\lambda w^2/(\kappa+\lambda)^2`,
    :math:`E_2 = \kappa\sum\lambda^2w^2/(\kappa+\lambda)^2`, :math:`df_2=\sum\lambda^2/(\kappa+\lambda)^2`:

    .. math::

        L_\infty = \begin{cases}
          \frac{P}{P-N}\,\kappa\sum_k \frac{\lambda_k w_k^{*2}}{\kappa+\lambda_k} & N < P \\
          \frac{P}{N-P}\Big[\frac{N-df_2}{P-df_2}E_1 + E_2\Big] & P < N \\
          \infty & N = P
        \end{cases}

    (N = inf: :math:`E_1/(1-df_2/P)`, the ridgeless kernel formula; P = inf: the rank-N
    projection error; both inf: 0.) For E > 1: :math:`X + (L_\infty - X)/E`,
    :math:`X = E_1/(1-df_2/P)`.
    """
    lam, ws = _dmft.spectrum(alpha, beta, int(M))
    return _dmft.late_time(lam, ws, float(N), float(P), int(ensemble))[0]


def late_time_train_loss(alpha: float, beta: float, N: float, P: float, M: int, ensemble: int = 1) -> float:
    r"""Train loss as :math:`\tau\to\infty`: :math:`R_1(0)^2 L_\infty` with :math:`R_1(0) = 1-\min(N,P)/P`.

    So :math:`(1-N/P)^2 L_\infty` for N < P, 0 for N > P (interpolation), inf at N = P, NaN
    for P = inf.
    """
    lam, ws = _dmft.spectrum(alpha, beta, int(M))
    return _dmft.late_time(lam, ws, float(N), float(P), int(ensemble))[1]


def theory(point: Point, *, tier: str = "dmft", rngs: Sequence[np.random.Generator] | None = None) -> Curves:
    r"""Deterministic BAP learning curves, gradient flow at τ = 2·lr·t; shape ``(n_N, n_t)``.

    Parameters
    ----------
    point : Point
        ``alpha, beta, P, N (n_N,), t (n_t,)`` and ``params`` (:class:`Params`).
    tier : {"dmft", "limit"}
        ``"dmft"``: the exact DMFT (bap.md §2), fixed-Talbot double inversion, cost
        O(n_t · talbot_nodes² · h) per N, where h ≲ min(M, ~2 min(N, P, τ^(1/b))) modes are
        summed directly and the remaining small-λ tail by a convergent series in λ/κ
        (exact to < 1e-17 relative; see ``_bap_dmft._Tail``). ``"limit"``: the τ → ∞
        closed forms of :func:`late_time_loss`, repeated over t.
    rngs : unused (the theory is deterministic).

    Returns
    -------
    Curves
        ``values["loss"]``, ``values["train_loss"]`` (NaN for P = inf), shape
        ``(n_N, n_t)``. ``flags[name]`` is True where the inversion is ill-conditioned:
        the Talbot double sum lost more than ~10 of 16 digits, Newton for κ(s) failed, or
        the N ≈ P resonance :math:`|D(s_0,s_0)| < 0.05` dominates (late times near N = P,
        where the loss grows like √τ; finite-size fluctuations there exceed the
        deterministic equivalent's accuracy). t = 0 gives :math:`L(0)=\sum_k\lambda_kw^{*2}_k`.
    """
    if tier not in THEORY_TIERS:
        raise SpecError(_where("theory"), "tier", tier, f"one of {THEORY_TIERS}")
    Ns, P, t = point.N, float(point.P), point.t
    p = _resolved(point.params, Ns, P, t, point.alpha)
    lam, ws = _dmft.spectrum(point.alpha, point.beta, int(p.M))
    L0 = float(np.sum(lam * ws**2))
    shape = (Ns.size, t.size)
    loss, train = np.empty(shape), np.full(shape, np.nan)
    fl, flt = np.zeros(shape, bool), np.zeros(shape, bool)
    pos = t > 0
    tau = 2.0 * p.lr * t[pos].astype(np.float64)
    for i, n in enumerate(Ns):
        if tier == "limit":
            Linf, Lhinf = _dmft.late_time(lam, ws, float(n), P, p.ensemble)
            loss[i], train[i] = Linf, Lhinf
            fl[i] = ~np.isfinite(loss[i])
            flt[i] = ~np.isfinite(train[i]) & math.isfinite(P)
            continue
        loss[i, ~pos] = L0
        if math.isfinite(P):
            train[i, ~pos] = L0
        if tau.size:
            r = _dmft.dmft_losses(lam, ws, float(n), P, tau, n_nodes=p.talbot_nodes, ensemble=p.ensemble)
            loss[i, pos], train[i, pos] = r["loss"], r["train_loss"]
            fl[i, pos], flt[i, pos] = r["flag_loss"], r["flag_train_loss"]
    flags = {"loss": fl}
    if math.isfinite(P):
        flags["train_loss"] = flt
    return Curves(values={"loss": loss, "train_loss": train}, source=tier, flags=flags)


# ----------------------------------------------------------------------------- simulation
class _Draw:
    """One realisation: data Ψ (P x M, Gaussian) and E projections A (N x M), shared by both methods.

    Draw order (the random stream): for each column block of ``_DRAW_BLOCK`` features,
    Z (P x block) if P is finite, then A_e (N x block) for e = 1..E if N is finite.
    Stored: ``A`` (E, N, M); ``Phi`` (E, P, D) with Φ = ΨAᵀ/√N (or Ψ if N = inf);
    ``y = Ψ w*`` (P,).
    """

    def __init__(self, rng: np.random.Generator, lam: np.ndarray, ws: np.ndarray, N: float, P: float, E: int):
        M = lam.size
        finN, finP = math.isfinite(N), math.isfinite(P)
        self.E = E if finN else 1  # without projection all members coincide
        n, pp = (int(N) if finN else 0), (int(P) if finP else 0)
        sq = np.sqrt(lam)
        self.A = np.empty((self.E, n, M)) if finN else None
        D = n if finN else M
        self.Phi = np.zeros((self.E, pp, D)) if finP else None
        self.y = np.zeros(pp) if finP else None
        for b0 in range(0, M, _DRAW_BLOCK):
            sl = slice(b0, min(M, b0 + _DRAW_BLOCK))
            Psi_b = None
            if finP:
                Psi_b = rng.standard_normal((pp, sl.stop - b0)) * sq[sl]
                self.y += Psi_b @ ws[sl]
                if not finN:
                    self.Phi[0][:, sl] = Psi_b
            if finN:
                for e in range(self.E):
                    A_b = rng.standard_normal((n, sl.stop - b0))
                    self.A[e][:, sl] = A_b
                    if finP:
                        self.Phi[e] += Psi_b @ A_b.T
        if finN and finP:
            self.Phi /= math.sqrt(n)


def _one_minus_pow(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """1 - q^t for q (r,) and integer t (n_t,), accurate when q is close to 1. Shape (r, n_t)."""
    tt = t.astype(np.float64)[None, :]
    qq = q[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        stable = -np.expm1(tt * np.log1p(qq - 1.0))
    return np.where(qq > 0, stable, 1.0 - np.power(qq, tt))


def _sim_eigen(d: _Draw, lam: np.ndarray, ws: np.ndarray, N: float, P: float, lr: float, t: np.ndarray):
    """Closed-form discrete GD at all checkpoints via the eigendecomposition of the smaller Gram matrix.

    GD is w <- w - 2 lr Xᵀ(Xw - y') with X = Φ/√P, y' = y/√P (finite P) or
    X = Λ^{1/2}Aᵀ/√N, y' = Λ^{1/2} w* (P = inf), X of shape (rows, D). With e the
    eigenvalues of XᵀX (equivalently of XXᵀ), q = 1 - 2 lr e and g_t(e) = (1 - q^t)/e
    (-> 2 lr t as e -> 0):

    * rows >= D: XᵀX = V diag(e) Vᵀ, w_t = V g_t(e) Vᵀ Xᵀy', residual y' - X w_t;
    * rows < D:  XXᵀ = U diag(e) Uᵀ, w_t = Xᵀ U g_t(e) Uᵀy', residual
      (I - UUᵀ)y' + U q^t Uᵀy'.
    """
    finN, finP = math.isfinite(N), math.isfinite(P)
    sq = np.sqrt(lam)
    M, nt = lam.size, t.size
    tt = t.astype(np.float64)[None, :]
    v_mean = np.zeros((M, nt))
    r_mean = np.zeros((int(P), nt)) if finP else None
    for e_idx in range(d.E):
        if finP:
            X = d.Phi[e_idx] / math.sqrt(P)
            yp = d.y / math.sqrt(P)
        else:
            X = (d.A[e_idx] * sq).T / math.sqrt(N)
            yp = sq * ws
        rows, D = X.shape
        dual = rows < D
        ev, Q = np.linalg.eigh(X @ X.T if dual else X.T @ X)
        ev = np.maximum(ev, 0.0)
        q = 1.0 - 2.0 * lr * ev
        om = _one_minus_pow(q, t)  # (r, n_t)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(ev[:, None] > 0, om / ev[:, None], 2.0 * lr * tt)
        if dual:
            z = Q.T @ yp
            W = X.T @ (Q @ (g * z[:, None]))  # (D, n_t)
            res = (yp - Q @ z)[:, None] + Q @ (z[:, None] * np.power(q[:, None], tt)) if finP else None
        else:
            W = Q @ (g * (Q.T @ (X.T @ yp))[:, None])
            res = yp[:, None] - X @ W if finP else None
        v_mean += (ws[:, None] - (d.A[e_idx].T @ W) / math.sqrt(N)) if finN else (ws[:, None] - W)
        if finP:
            r_mean += res
    v_mean /= d.E
    loss = np.einsum("k,kt->t", lam, v_mean**2)
    if finP:
        r_mean /= d.E
        train = np.sum(r_mean**2, axis=0)
    else:
        train = np.full(nt, np.nan)
    return loss, train


def _sim_gd(d: _Draw, lam: np.ndarray, ws: np.ndarray, N: float, P: float, lr: float, t: np.ndarray):
    """The reference: plain step-by-step GD, w <- w - lr (2/P) Φᵀ(Φw - y), for each member.

    P = inf: w <- w - 2 lr A Λ (Aᵀw/√N - w*)/√N (population gradient).
    """
    finN, finP = math.isfinite(N), math.isfinite(P)
    M, nt = lam.size, t.size
    t_max = int(t.max()) if nt else 0
    pos = {int(tt): np.nonzero(t == tt)[0] for tt in np.unique(t)}
    Ws = []
    for e in range(d.E):
        D = int(N) if finN else M
        w = np.zeros(D)
        W = np.zeros((D, nt))  # columns for t = 0 stay 0
        if finP:
            Phi, y = d.Phi[e], d.y
            for step in range(1, t_max + 1):
                w = w - lr * (2.0 / P) * (Phi.T @ (Phi @ w - y))
                if step in pos:
                    W[:, pos[step]] = w[:, None]
        else:
            A = d.A[e]
            sN = math.sqrt(N)
            for step in range(1, t_max + 1):
                w = w - 2.0 * lr * (A @ (lam * (A.T @ w / sN - ws))) / sN
                if step in pos:
                    W[:, pos[step]] = w[:, None]
        Ws.append(W)
    if finN:
        fx = sum(d.A[e].T @ Ws[e] for e in range(d.E)) / (d.E * math.sqrt(N))
    else:
        fx = sum(Ws) / d.E
    v = ws[:, None] - fx
    loss = np.einsum("k,kt->t", lam, v**2)
    if finP:
        res = d.y[:, None] - sum(d.Phi[e] @ Ws[e] for e in range(d.E)) / d.E
        train = np.sum(res**2, axis=0) / P
    else:
        train = np.full(nt, np.nan)
    return loss, train


def simulate(point: Point, rngs: Sequence[Sequence[np.random.Generator]], *, method: str = "eigen") -> Curves:
    r"""Discrete full-batch GD on P Gaussian samples through random projections; shape ``(n_N, n_seed, n_t)``.

    The simulation is the discrete-step algorithm exactly (GD step t, learning rate lr);
    the theory is gradient flow at τ = 2·lr·t. They agree after about 10 steps.

    Parameters
    ----------
    point : Point
        Grid cell; ``params.M`` features (None: :func:`resolve_M`), ``params.ensemble`` members.
    rngs : sequence of sequences of numpy.random.Generator
        ``rngs[i][s]`` draws the data Ψ and the projections A for N index i, seed s.
    method : {"eigen", "gd"}
        ``"eigen"``: all checkpoints at once from the eigendecomposition of the smaller
        Gram matrix of the design (the factor :math:`(1-2\,\mathrm{lr}\,e)^t` per eigenvalue
        e of ΦᵀΦ/P), cost O(E(P M N + P N min(P,N) + M N n_t)). ``"gd"``: the step-by-step loop, cost
        O(E P N t_max); the reference. Same rngs give the same numbers (to round-off).

    Returns
    -------
    Curves
        ``loss`` (test, :math:`v^T\Lambda v`) and ``train_loss`` (:math:`\|y-\Phi w\|^2/P`;
        NaN for P = inf). For E > 1 the members' predictors are averaged.
    """
    if method not in SIM_METHODS:
        raise SpecError(_where("simulate"), "method", method, f"one of {SIM_METHODS}")
    Ns, P, t = point.N, float(point.P), point.t
    p = _resolved(point.params, Ns, P, t, point.alpha)
    lam, ws = _dmft.spectrum(point.alpha, point.beta, int(p.M))
    n_seed = len(rngs[0]) if len(rngs) else 0
    loss = np.empty((Ns.size, n_seed, t.size))
    train = np.empty_like(loss)
    fn = _sim_eigen if method == "eigen" else _sim_gd
    for i, n in enumerate(Ns):
        for s in range(n_seed):
            if math.isinf(n) and math.isinf(P):
                # no randomness: v_k(t) = w*_k (1 - 2 lr lam_k)^t exactly
                v = ws[:, None] * np.power(1.0 - 2.0 * p.lr * lam[:, None], t.astype(np.float64)[None, :])
                loss[i, s], train[i, s] = lam @ v**2, np.nan
                continue
            d = _Draw(rngs[i][s], lam, ws, float(n), P, p.ensemble)
            loss[i, s], train[i, s] = fn(d, lam, ws, float(n), P, p.lr, t)
    return Curves(values={"loss": loss, "train_loss": train}, source=method)


# ----------------------------------------------------------------------------- cost
#: Rough machine constants (one core of the 2-core dev machine, single-threaded BLAS):
#: seconds per real flop and per normal draw.
_SEC_PER_FLOP, _SEC_PER_DRAW = 5e-11, 1.5e-8


def cost(point: Point, method: str) -> float:
    """Rough wall time in seconds for one point (all N): theory tiers, or ONE seed of a simulation.

    Theory "dmft": per checkpoint ~ 4·(2n-1)·n·h complex multiply-adds and the κ Newton
    solves, with h ≈ 2·min(N, P, τ^(1/b)) modes summed directly (the rest is a series);
    "limit": negligible. Simulation: feature draws + forming Φ + one Gram eigendecomposition + n_t products
    ("eigen"), or t_max matrix-vector pairs ("gd"). The generic names "theory" and
    "simulation" (used by the sweep's block sizing) mean "dmft" and "eigen".
    """
    method = {"theory": "dmft", "simulation": "eigen"}.get(method, method)
    Ns, P, t = point.N, float(point.P), point.t
    p = _resolved(point.params, Ns, P, t, point.alpha)
    M, E, n = int(p.M), int(p.ensemble), int(p.talbot_nodes)
    nt = int(t.size)
    t_max = float(t.max()) if nt else 0.0
    total = 0.0
    for N in Ns:
        if method == "dmft":
            # modes summed directly per tau: ~3 k*, k* = min(N, P, tau^(1/b)); the rest is a series
            b = 2.0 * point.alpha
            tau = 2.0 * p.lr * np.maximum(t.astype(np.float64), 1.0)
            h = np.minimum(M, 2.0 * np.minimum(min(float(N), P), tau ** (1.0 / b)) + 16.0)
            per_tau = 5e-4 + 8.0 * (4 * n * (2 * n - 1) + 20 * n) * h * _SEC_PER_FLOP
            total += 0.01 + 2e-6 * M + float(np.sum(per_tau))
        elif method == "limit":
            total += 1e-3 * M / 1000
        elif method in SIM_METHODS:
            finN, finP = math.isfinite(N), math.isfinite(P)
            D = N if finN else M
            rows = P if finP else M
            draws = (P if finP else 0) * M + (E * N * M if finN else 0)
            flops = 2.0 * (P if finP else 0) * M * (N if finN else 0) * E
            if method == "eigen":
                flops += E * (6.0 * rows * D * min(rows, D) + 2.0 * M * D * nt + 2.0 * rows * min(rows, D) * nt)
            else:
                flops += E * t_max * (4.0 * rows * D if finP else 4.0 * M * D)
            total += draws * _SEC_PER_DRAW + flops * _SEC_PER_FLOP
        else:
            raise SpecError(_where("cost"), "method", method, f"one of {THEORY_TIERS + SIM_METHODS}")
    return float(total)
