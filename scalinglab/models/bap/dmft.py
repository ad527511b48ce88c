r"""Private core of the BAP model: the frequency-domain DMFT, its kernel sums on a contour
(:func:`contour_losses`, shared by both DMFT tiers) and the 2-D Laplace inversion of gradient flow
(tier ``dmft_flow``, :func:`dmft_losses`). The discrete-time tier ``dmft`` integrates the same
kernel on its own contours (:mod:`scalinglab.models.bap.discrete`, docs/theory/bap_discrete_time.md).

See :mod:`scalinglab.models.bap` for the public API and the model. Everything here is in
the paper's symbols (Bordelon, Atanasov & Pehlevan, arXiv:2402.01092): spectrum
:math:`\lambda_k = k^{-b}`, target :math:`w^{*2}_k = k^{b-a}`, theory time
:math:`\tau = 2\eta t`, Laplace variable ``s``.

The DMFT (docs/theory/bap.md §2) in scalar form: with
:math:`\mathrm{df}(\kappa) = \sum_k \lambda_k/(\lambda_k+\kappa)`, solve

.. math::

    s = \kappa\,(1 - \mathrm{df}(\kappa)/P)\,(1 - \mathrm{df}(\kappa)/N),

then :math:`R_1 = 1-\mathrm{df}/P`, :math:`R_3 = 1-\mathrm{df}/N`,
:math:`H_k = (\kappa/s)/(\kappa+\lambda_k)`, and the two-frequency test-loss kernel

.. math::

    C_0(s,s') = \frac{B_0(1-\rho\bar\tau T_2/N) + \rho\bar\tau T_1 B_2/N}
                     {(1-\rho\bar\tau T_2/P)(1-\rho\bar\tau T_2/N) - \rho\bar\tau s s' T_1^2/(NP)},

with :math:`B_0=\sum\lambda w^{*2}HH'`, :math:`B_2=\sum\lambda^2 w^{*2}HH'`,
:math:`T_1=\sum\lambda HH'`, :math:`T_2=\sum\lambda^2HH'`, :math:`\rho=R_1R_1'`,
:math:`\bar\tau=R_3R_3'`. The train loss uses :math:`C_1 = R_1R_1'C_0`. The loss is the
double inverse Laplace transform at :math:`(\tau,\tau)`, done with the fixed-Talbot rule
(Abate & Valkó 2004) in both variables.
"""
from __future__ import annotations

import math

import numpy as np

from scalinglab.numerics import projection_error, root_in_log, solve_df

from ..spectra import powerlaw_eigenvalues, powerlaw_target

__all__: list[str] = []  # private module

#: Relative Newton tolerance for kappa.
_KAPPA_TOL = 1e-13
#: Round-off of the Talbot double sum is estimated as eps * sum|terms|; a value is flagged when
#: that estimate exceeds _REL_TOL * |value| + _ABS_TOL * L(0) (too many digits lost).
_REL_TOL, _ABS_TOL = 1e-6, 1e-12
#: |D(s0, s0)| below this: the N ~ P resonance (double descent) dominates the loss.
_D_RESONANCE = 0.05
#: (tau x node x node) kernel entries per chunk over tau (complex128).
_CHUNK_ELEMS = 1_000_000


def spectrum(alpha: float, beta: float, M: int) -> tuple[np.ndarray, np.ndarray]:
    r"""BAP spectrum in project symbols: :math:`\lambda_k = k^{-2\alpha}`, :math:`w^{*2}_k = k^{-2\beta}`.

    Returns ``(lam, wstar)`` with shape ``(M,)`` each; ``wstar`` are the target weights
    :math:`w^*_k` (not squared), so that :math:`\lambda_k w^{*2}_k = k^{-2(\alpha+\beta)} = k^{-a}`.
    """
    return powerlaw_eigenvalues(alpha, M), powerlaw_target(beta, M)


def _inv(x: float) -> float:
    return 0.0 if math.isinf(x) else 1.0 / float(x)


# ----------------------------------------------------------------------------- mode sums
#: Modes with lambda_k <= _SPLIT * min|kappa| are summed by a series in lambda/kappa ("tail").
_SPLIT = 0.25
#: Terms of that series per variable: _SPLIT**_N_SERIES < 1e-17.
_N_SERIES = 29


class _Tail:
    r"""Mode sums :math:`\sum_k W_k/(\kappa+\lambda_k)` with the small-lambda tail as a series.

    For :math:`\lambda_k \le 0.25|\kappa|`,
    :math:`1/(\kappa+\lambda) = \kappa^{-1}\sum_{a\ge 0}(-\lambda/\kappa)^a`, so the sums over
    the modes k >= h need only the moments :math:`\sum_{k\ge h} W_k\lambda_k^p`,
    p < 2·_N_SERIES - 1. They are stored scaled, :math:`\hat m_p(h) = \sum_{k\ge h}
    W_k(\lambda_k/\theta_h)^p`, with :math:`\theta_h` the first eigenvalue of h's block (a block
    spans a factor <= 2 in lambda), so nothing under- or overflows. Built once per spectrum in
    O(p M); afterwards a sum over M modes costs O(h + _N_SERIES), h = number of modes with
    :math:`\lambda_k > 0.25\min|\kappa|`. The truncation error is below 1e-17 relative.

    ``lam`` (M,) must be decreasing; ``weights`` has shape (M, n_w).
    """

    def __init__(self, lam: np.ndarray, weights: np.ndarray) -> None:
        M, nw = weights.shape
        P2 = 2 * _N_SERIES - 1
        pw = np.arange(P2, dtype=np.float64)[:, None]
        self.lam, self.weights = lam, weights
        self._neg = -lam
        starts = [0]
        while starts[-1] < M:
            nxt = int(np.searchsorted(self._neg, -0.5 * lam[starts[-1]], side="right"))
            starts.append(max(nxt, starts[-1] + 1))
        self.theta = np.ones(M + 1)
        self.mhat = np.zeros((P2, M + 1, nw))
        beyond = np.zeros((P2, nw))  # suffix sum after the current block, in the next block's scale
        theta_next = None
        for b0, b1 in zip(starts[-2::-1], starts[:0:-1]):  # blocks from the last one backwards
            th = float(lam[b0])
            x = lam[b0:b1] / th
            terms = (x[None, :] ** pw)[:, :, None] * weights[None, b0:b1, :]  # (P2, len, nw)
            # plus the later blocks, rescaled to this block's theta (ratio <= 1/2)
            suffix = np.cumsum(terms[:, ::-1], axis=1)[:, ::-1]
            if theta_next is not None:
                suffix += (beyond * (theta_next / th) ** pw)[:, None, :]
            self.mhat[:, b0:b1] = suffix
            self.theta[b0:b1] = th
            beyond, theta_next = self.mhat[:, b0], th

    def head(self, kmin: float) -> int:
        """Number of modes summed directly: those with lambda_k > _SPLIT * kmin."""
        return int(np.searchsorted(self._neg, -_SPLIT * kmin, side="left"))

    def single(self, kap: np.ndarray, deriv: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        r"""Returns :math:`S_W(\kappa) = \sum_k W_k/(\kappa+\lambda_k)`, shape ``kap.shape + (n_w,)``,
        and, if ``deriv``, :math:`S'_W(\kappa) = -\sum_k W_k/(\kappa+\lambda_k)^2`. ``kap`` is 1-D."""
        h = self.head(float(np.min(np.abs(kap))))
        G = 1.0 / (kap[:, None] + self.lam[None, :h])  # (m, h)
        a = np.arange(_N_SERIES)
        th = self.theta[h]
        with np.errstate(over="ignore", invalid="ignore"):  # unused when h = M (no tail)
            V = (-th / kap[:, None]) ** a / kap[:, None]  # (m, A): kappa^-1 (-theta/kappa)^a
        mom = self.mhat[:_N_SERIES, h, :]  # (A, n_w)
        S = G @ self.weights[:h]
        if h < self.lam.size:
            S = S + V @ mom
        if not deriv:
            return S, None
        dS = -((G * G) @ self.weights[:h])
        if h < self.lam.size:
            dS = dS - ((a + 1) * V / kap[:, None]) @ mom
        return S, dS

    def pairs(self, kap: np.ndarray, cols: int) -> np.ndarray:
        r"""Pair sums :math:`\sum_k W_k/((\kappa_j+\lambda_k)(\kappa_{j'}+\lambda_k))` for the first
        ``cols`` weight columns; rows j >= 0 (``kap``, shape (n,)), columns all J = 2n-1 nodes
        (negative j are the conjugates). Shape (cols, n, J)."""
        n = kap.size
        h = self.head(float(np.min(np.abs(kap))))
        th = self.theta[h]
        a = np.arange(_N_SERIES)
        k_all = _full(kap)
        G = 1.0 / (kap[:, None] + self.lam[None, :h])  # (n, h)
        Wh = self.weights[:h, :cols]
        Hw = (Wh.T[:, None, :] * G[None, :, :]).reshape(cols * n, h)
        out = (Hw @ _full(G.T)).reshape(cols, n, 2 * n - 1)
        if h == self.lam.size:
            return out
        V = (-th / kap[:, None]) ** a / kap[:, None]
        V_all = (-th / k_all[:, None]) ** a / k_all[:, None]
        Hk = self.mhat[np.add.outer(a, a), h, :cols]  # (A, A, cols): m_{a+b}
        return out + np.einsum("ja,abw,kb->wjk", V, Hk, V_all, optimize=True)


def _full(x: np.ndarray) -> np.ndarray:
    """Extend node values j = 0..n-1 (last axis) to j = -(n-1)..n-1 by conjugation."""
    return np.concatenate([np.conj(x[..., :0:-1]), x], axis=-1)


# ----------------------------------------------------------------------------- kappa
def kappa_real(s: np.ndarray, dft: _Tail, N: float, P: float, kmin: float | None = None) -> np.ndarray:
    r"""Physical root :math:`\kappa(s)` for real ``s > 0`` (bracketing, vectorised over s).

    For real positive s the root is unique on :math:`\kappa > \kappa_{min}`, where
    :math:`\mathrm{df}(\kappa_{min}) = \min(N, P)` (0 if that exceeds M); a bracketing root finder in
    :math:`\log\kappa` on :math:`(\kappa_{min}, \kappa_{hi})` (:func:`scalinglab.numerics.root_in_log`)
    selects the physical branch, then Newton polishes. ``dft`` is a :class:`_Tail` with the single
    weight column lambda; ``kmin`` (:math:`\kappa_{min}`) may be passed when it is already known.
    """
    s = np.asarray(s, dtype=np.float64)
    invN, invP = _inv(N), _inv(P)
    if invN == 0.0 and invP == 0.0:
        return s.copy()
    lam = dft.lam
    nmin = min(N, P)
    kmin = kappa_df(lam, nmin) if kmin is None else kmin

    def g(kap: np.ndarray, s_: np.ndarray) -> np.ndarray:
        df = dft.single(kap)[0][:, 0]
        val = kap * (1.0 - df * invP) * (1.0 - df * invN) - s_
        return np.where(df >= nmin, -s_, val)

    tr = float(lam.sum())
    hi = np.maximum(4.0 * s, 2.0 * tr / nmin) + kmin
    lo = np.full_like(s, kmin if kmin > 0 else 1e-300)
    kap = root_in_log(g, lo, hi, args=(s,))  # the physical branch: the bracket starts at kappa_min
    kap, _ = _newton(kap.astype(np.complex128), s.astype(np.complex128), dft, invN, invP)
    return kap.real


def _newton(
    kap: np.ndarray, s: np.ndarray, dft: _Tail, invN: float, invP: float, iters: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Complex Newton on g(k) = k R1(k) R3(k) - s for each entry; returns (kappa, converged)."""
    kap = kap.copy()
    active = np.ones(kap.shape, dtype=bool)
    for _ in range(iters):
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        k = kap[idx]
        S, dS = dft.single(k, deriv=True)
        df, dfp = S[:, 0], dS[:, 0]
        R1 = 1.0 - df * invP
        R3 = 1.0 - df * invN
        g = k * R1 * R3 - s[idx]
        gp = R1 * R3 - k * dfp * (invP * R3 + invN * R1)
        step = g / gp
        kap[idx] = k - step
        done = np.abs(step) <= _KAPPA_TOL * np.abs(kap[idx])
        active[idx[done]] = False
    return kap, ~active


def kappa_nodes(
    shat: np.ndarray, r: np.ndarray, lam: np.ndarray, N: float, P: float
) -> tuple[np.ndarray, np.ndarray]:
    r"""kappa at the Talbot nodes ``s = r * shat_j`` for all tau at once.

    ``shat`` has shape ``(n,)`` (j = 0..n-1, ``shat[0] = 1`` real), ``r`` shape ``(n_t,)``.
    Node 0 is solved by bracketing; node j starts Newton from node j-1 (continuation along
    the contour selects the physical branch, bap.md §6.7). If Newton fails to converge the
    step is split into 4 and then 16 sub-steps. Returns ``(kappa (n_t, n), ok (n_t,))``.
    """
    invN, invP = _inv(N), _inv(P)
    s = r[:, None] * shat[None, :]
    if invN == 0.0 and invP == 0.0:
        return s.astype(np.complex128), np.ones(r.shape, dtype=bool)
    dft = _Tail(lam, lam[:, None])
    n = shat.size
    out = np.empty((r.size, n), dtype=np.complex128)
    ok = np.ones(r.size, dtype=bool)
    out[:, 0] = kappa_real(r, dft, N, P)
    theta = np.arange(n) * np.pi / n
    for j in range(1, n):
        kap, conv = _newton(out[:, j - 1], s[:, j], dft, invN, invP)
        for nsub in (4, 16):
            if conv.all():
                break
            bad = np.nonzero(~conv)[0]
            kb = out[bad, j - 1]
            for th in np.linspace(theta[j - 1], theta[j], nsub + 1)[1:]:
                sh = th * (1.0 / np.tan(th) + 1j)
                kb, cb = _newton(kb, r[bad] * sh, dft, invN, invP)
            kap[bad], conv[bad] = kb, cb
        ok &= conv
        out[:, j] = kap
    return out, ok


# ----------------------------------------------------------------------------- Talbot
def talbot_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Fixed-Talbot contour in units of r, nodes j = 0..n-1 (negative j are conjugates).

    :math:`\theta_j = j\pi/n`, :math:`\hat s_j = \theta_j(\cot\theta_j + i)` (:math:`\hat s_0 = 1`),
    and :math:`\hat c_j = \hat s'(\theta_j) e^{(2n/5)\hat s_j}/(2n i)`, so that with
    :math:`r = 2n/(5\tau)`, :math:`s_j = r\hat s_j` and
    :math:`f(\tau) \approx \sum_{j=-(n-1)}^{n-1} r\hat c_j F(s_j)`.
    """
    theta = np.arange(n) * np.pi / n
    shat = np.empty(n, dtype=np.complex128)
    dshat = np.empty(n, dtype=np.complex128)
    shat[0], dshat[0] = 1.0, 1j
    th = theta[1:]
    cot = 1.0 / np.tan(th)
    shat[1:] = th * (cot + 1j)
    dshat[1:] = cot - th / np.sin(th) ** 2 + 1j
    chat = dshat * np.exp(0.4 * n * shat) / (2.0 * n * 1j)
    return shat, chat


def dmft_losses(
    lam: np.ndarray,
    wstar: np.ndarray,
    N: float,
    P: float,
    tau: np.ndarray,
    *,
    n_nodes: int = 24,
    ensemble: int = 1,
) -> dict[str, np.ndarray]:
    r"""Test and train loss of the DMFT at theory times ``tau`` (all > 0), for one (N, P).

    Returns a dict with ``loss`` and ``train_loss`` (NaN if P is inf), shape ``(n_t,)``,
    and ``flag_loss`` / ``flag_train_loss`` (bool, ``(n_t,)``): Newton did not converge, the
    Talbot double sum lost more than ~10 of 16 digits to cancellation (estimate
    eps·sum|terms| > 1e-6·|value| + 1e-12·L(0)), the result is not finite or negative, or
    the N ~ P resonance :math:`|D(s_0,s_0)| < 0.05` dominates (double descent).
    Cost per tau: O(n² h) with h the modes summed directly (:class:`_Tail`).
    With ``ensemble = E > 1`` the losses of the output-averaged ensemble with shared data
    and independent projections are returned: :math:`L_E = X + (L_1 - X)/E`, where X uses
    the kernel :math:`B_0/(1-\rho\bar\tau T_2/P)` (train: times :math:`\rho`), bap.md §4.
    """
    tau = np.asarray(tau, dtype=np.float64)
    n = int(n_nodes)
    invN, invP = _inv(N), _inv(P)
    shat, chat = talbot_rule(n)
    r = 0.4 * n / tau
    kap, ok = kappa_nodes(shat, r, lam, N, P)
    w2 = wstar**2
    J = 2 * n - 1
    nt = tau.size
    out_test = np.empty(nt)
    out_train = np.empty(nt)
    flag_test = ~ok
    flag_train = ~ok
    L0 = float(np.sum(lam * wstar**2))
    # (M, 5): B0, B2, T1, T2 pair-sum weights; the last column (lambda) gives df = S_lambda
    tail = _Tail(lam, np.stack([lam * w2, lam**2 * w2, lam, lam**2, lam], axis=1))
    chunk = max(1, _CHUNK_ELEMS // (n * J))
    for a in range(0, nt, chunk):
        sl = slice(a, min(nt, a + chunk))
        rr = r[sl]
        s_pos = rr[:, None] * shat[None, :]  # (c, n)
        c_pos = rr[:, None] * chat[None, :]
        L, Lh, fL, fLh = contour_losses(tail, s_pos, c_pos, kap[sl], N, P, ensemble=ensemble, L0=L0)
        out_test[sl], out_train[sl] = L, Lh
        flag_test[sl] |= fL
        flag_train[sl] |= fLh
    return {"loss": out_test, "train_loss": out_train, "flag_loss": flag_test, "flag_train_loss": flag_train}


def contour_losses(
    tail: _Tail, s_pos: np.ndarray, c_pos: np.ndarray, k_pos: np.ndarray, N: float, P: float, *,
    ensemble: int = 1, L0: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""The double contour sums :math:`L = \sum_{j,j'} c_j c_{j'} C_0(s_j, s_{j'})` (and the train loss
    with :math:`C_1 = \rho C_0`) for ``c`` contours at once, one per row.

    The contour of each row is given by its nodes j = 0..n-1 (``s_pos``, shape (c, n); node 0 on the
    positive real axis, the others in the upper half plane), its weights ``c_pos`` (c, n) and
    :math:`\kappa(s_j)` ``k_pos`` (c, n); the nodes j < 0 are the complex conjugates. Any closed or
    Bromwich-type contour of this layout works: the fixed-Talbot rule of gradient flow
    (:func:`dmft_losses`) or the discrete-time contours of :mod:`scalinglab.models.bap.discrete`
    (docs/theory/bap_discrete_time.md §3). ``tail`` is a :class:`_Tail` with the weight columns
    (lambda w², lambda² w², lambda, lambda², lambda).

    Returns ``(L, Lhat, flag_L, flag_Lhat)``, shape (c,) each (Lhat NaN and unflagged for P = inf).
    A value is flagged when the double sum lost more than ~10 of 16 digits (eps·sum|terms| >
    1e-6·|value| + 1e-12·L(0)), is not finite or negative, or when the N ~ P resonance
    :math:`|D(s_0,s_0)| < 0.05` dominates. Ensembles (E > 1): :math:`L_E = X + (L_1 - X)/E`, bap.md §4.
    """
    invN, invP = _inv(N), _inv(P)
    c, n = s_pos.shape
    J = 2 * n - 1
    Pw = np.empty((c, 4, n, J), dtype=np.complex128)
    df = np.empty((c, n), dtype=np.complex128)
    for i in range(c):  # each contour has its own head size
        df[i] = tail.single(k_pos[i])[0][:, 4]
        Pw[i] = tail.pairs(k_pos[i], 4)
    R1p = 1.0 - df * invP
    R3p = 1.0 - df * invN
    h_pos = k_pos / s_pos
    hh = h_pos[:, :, None] * _full(h_pos)[:, None, :]  # (kappa_j/s_j)(kappa_j'/s_j')
    G = Pw * hh[:, None]
    B0, B2, T1, T2 = G[:, 0], G[:, 1], G[:, 2], G[:, 3]
    s_all, R1a, R3a = _full(s_pos), _full(R1p), _full(R3p)
    rho = R1p[:, :, None] * R1a[:, None, :]
    tb = R3p[:, :, None] * R3a[:, None, :]
    q = rho * tb * T2
    ss = s_pos[:, :, None] * s_all[:, None, :]
    Dn = (1.0 - q * invP) * (1.0 - q * invN) - rho * tb * ss * T1**2 * (invN * invP)
    C0 = (B0 * (1.0 - q * invN) + rho * tb * T1 * B2 * invN) / Dn
    c_all = _full(c_pos)
    kernels = {"loss": C0}
    if P != math.inf:
        kernels["train_loss"] = rho * C0
    if ensemble > 1:
        X0 = B0 / (1.0 - q * invP)
        kernels["X"] = X0
        if P != math.inf:
            kernels["Xtrain"] = rho * X0
    res, err = {}, {}
    for name, K in kernels.items():
        terms = c_pos[:, :, None] * K * c_all[:, None, :]
        # rows j >= 0 are given; rows j < 0 are the complex conjugates of rows j > 0
        res[name] = terms[:, 0, :].sum(-1).real + 2.0 * terms[:, 1:, :].sum((-1, -2)).real
        amp = np.abs(terms[:, 0, :]).sum(-1) + 2.0 * np.abs(terms[:, 1:, :]).sum((-1, -2))
        err[name] = np.finfo(np.float64).eps * amp
    L, Lh = res["loss"], res.get("train_loss", np.full(c, np.nan))
    eL, eLh = err["loss"], err.get("train_loss", np.zeros(c))
    if ensemble > 1:
        L = res["X"] + (L - res["X"]) / ensemble
        eL = np.maximum(eL, err["X"])
        if "Xtrain" in res:
            Lh = res["Xtrain"] + (Lh - res["Xtrain"]) / ensemble
            eLh = np.maximum(eLh, err["Xtrain"])
    resonant = np.abs(Dn[:, 0, n - 1]) < _D_RESONANCE
    out = []
    for name, val, e in (("loss", L, eL), ("train_loss", Lh, eLh)):
        if name == "train_loss" and P == math.inf:
            out += [np.full(c, np.nan), np.zeros(c, dtype=bool)]
            continue
        tol = _REL_TOL * np.abs(val) + _ABS_TOL * L0
        zero = (val < 0) & (-val <= 10 * e)  # a numerical zero (e.g. interpolated train loss)
        val = np.where(zero, 0.0, val)
        out += [val, ~np.isfinite(val) | (val < 0) | (e > tol) | resonant]
    return out[0], out[2], out[1], out[3]


# ----------------------------------------------------------------------------- tau -> inf
def kappa_df(lam: np.ndarray, target: float) -> float:
    r"""The :math:`\kappa \ge 0` with :math:`\mathrm{df}(\kappa) = ` ``target`` (0 if target >= M);
    :func:`scalinglab.numerics.solve_df`."""
    return float(solve_df(lam, float(target)))


def late_time(
    lam: np.ndarray, wstar: np.ndarray, N: float, P: float, ensemble: int = 1
) -> tuple[float, float]:
    r"""Closed forms of the :math:`\tau\to\infty` test and train loss (bap.md §3).

    Returns ``(L_inf, Lhat_inf)``; ``Lhat_inf`` is NaN for P = inf, and both are inf at
    N = P (finite): the late-time double descent.
    """
    w2 = wstar**2
    lw = lam * w2
    if math.isinf(N) and math.isinf(P):
        return 0.0, math.nan
    if N == P:
        return math.inf, math.inf
    nmin = min(N, P)
    kap = kappa_df(lam, nmin)
    den = kap + lam
    E1 = kap**2 * float(np.sum(lw / den**2))
    E2 = kap * float(np.sum(lam * lw / den**2))
    df2 = float(np.sum(lam**2 / den**2))
    Eproj = projection_error(lam, lw, nmin, kappa=kap)
    if math.isinf(N):
        L = E1 / (1.0 - df2 / P)
    elif math.isinf(P):
        L = Eproj
    elif N < P:
        L = P / (P - N) * Eproj
    else:
        L = P / (N - P) * ((N - df2) / (P - df2) * E1 + E2)
    if ensemble > 1:
        X = E1 / (1.0 - df2 / P) if not math.isinf(P) else E1
        L = X + (L - X) / ensemble
    if math.isinf(P):
        return L, math.nan
    R1 = 1.0 - min(nmin, lam.size) / P
    return L, R1**2 * L
