"""Core of the LIN model: spectrum, step-decay schedule, sketch set-up, exact recursion.

See :mod:`scalinglab.models.lin` for the public contract and the symbols. Lin et al. (2024),
arXiv 2406.08466; theory note ``docs/theory/lin.md`` §1 and §6.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.numerics import StreamingQR

#: Entries of the sketch S drawn per call to ``standard_normal`` (32 MB). The block width
#: depends on N only, so a generator yields the same S whatever uses it (theory, eigen and
#: ambient simulation).
BLOCK_ENTRIES = 2**22
#: Smallest number of head modes whose prior approximation error is summed as tails (draw_setup).
HEAD_ROWS_MIN = 64


def col_block(N: int) -> int:
    """Columns of S per block: max(256, 2^22 // N)."""
    return max(256, BLOCK_ENTRIES // int(N))


# ---------------------------------------------------------------------------------------------
# spectrum
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spectrum:
    """The truncated data/target spectrum in Lin's symbols (a = 2 alpha, b = 2 alpha + 2 beta).

    Attributes
    ----------
    a, b : float
        Lin's capacity and source exponents.
    d : int
        Truncation (ambient dimension).
    lam : ndarray, shape (d,)
        lambda_i = i^(-a), the eigenvalues of H.
    w_sd : ndarray, shape (d,)
        Prior standard deviation of w*_i: E w*_i^2 = i^(a-b) = i^(-2 beta).
    q : ndarray, shape (d,)
        sqrt of the diagonal of H Pi H: lambda_i^2 E w*_i^2 = i^(-(a+b)).
    head_power : float
        sum_{i<=d} lambda_i E w*_i^2 = sum_{i<=d} i^(-b) (the initial excess risk, prior mean).
    tail : float
        tau = sum_{i>d} i^(-b) (Hurwitz zeta): the target power the truncated model cannot
        see; added to the risk and to the effective label noise.
    """

    a: float
    b: float
    d: int
    lam: np.ndarray
    w_sd: np.ndarray
    q: np.ndarray
    head_power: float
    tail: float


def spectrum(a: float, b: float, d: int) -> Spectrum:
    from scipy.special import zeta  # here, not at module level: every LIN spec imports this module

    i = np.arange(1, d + 1, dtype=np.float64)
    lam = i ** (-a)
    w_sd = i ** (-(b - a) / 2.0)
    q = i ** (-(a + b) / 2.0)
    head = float(np.sum(i ** (-b)))
    tail = float(zeta(b, d + 1))
    return Spectrum(a=a, b=b, d=d, lam=lam, w_sd=w_sd, q=q, head_power=head, tail=tail)


# ---------------------------------------------------------------------------------------------
# schedule
# ---------------------------------------------------------------------------------------------
def n_phases(T: int) -> int:
    """L(T) = ceil(log2 T) phases (at least 1) for a run of horizon T >= 1."""
    return max(1, (int(T) - 1).bit_length())


def phase_lengths(T: int) -> np.ndarray:
    """Steps in each phase: n_l = floor((l+1) T / L) - floor(l T / L), l = 0..L-1 (sum T).

    Step s (1-based) lies in phase l iff l T/L < s <= (l+1) T/L, i.e. l = (s L - 1) // T,
    and its step size is lr / 2^l (Lin et al. §1 with N_eff = T/L).
    """
    T = int(T)
    if T <= 0:
        return np.zeros(0, dtype=np.int64)
    L = n_phases(T)
    ell = np.arange(L + 1, dtype=np.int64)
    edges = (ell * T) // L
    return np.diff(edges)


def step_sizes(T: int, lr: float, schedule: str) -> np.ndarray:
    """The step sizes gamma_1..gamma_T of one run of horizon T (for tests and references)."""
    s = np.arange(1, int(T) + 1, dtype=np.int64)
    if schedule == "constant":
        return np.full(s.shape, float(lr))
    L = n_phases(T)
    return np.ldexp(float(lr), -((s * L - 1) // int(T)).astype(np.int64))


def gamma_table(s: np.ndarray, horizons: np.ndarray, lr: float) -> np.ndarray:
    """Step sizes, shape (len(s), len(horizons)), of step s in the step-decay run of each horizon.

    Zero for s > horizon (the run is over and its iterate frozen).
    """
    s = np.asarray(s, dtype=np.int64)[:, None]
    T = np.asarray(horizons, dtype=np.int64)[None, :]
    L = np.array([n_phases(x) if x > 0 else 1 for x in horizons.ravel()], dtype=np.int64)[None, :]
    Tsafe = np.maximum(T, 1)
    ell = (s * L - 1) // Tsafe
    g = np.ldexp(float(lr), -np.minimum(ell, 1000).astype(np.int64))
    return np.where(s <= T, g, 0.0)


# ---------------------------------------------------------------------------------------------
# sketch set-up
# ---------------------------------------------------------------------------------------------
@dataclass
class Setup:
    """One drawn (w*, S): the sketched problem in G's eigenbasis.

    Attributes
    ----------
    mu : ndarray, shape (N,)
        Eigenvalues of G = S H S^T, decreasing.
    c0_prior : ndarray or None
        diag of E[(v*~)(v*~)^T] over the prior, in G's eigenbasis: [U^T S H Pi H S^T U]_jj / mu_j^2.
    approx_prior : float or None
        E Approx over the prior for this S (head part): tr(H Pi) - tr(G^-1 S H Pi H S^T).
    vstar : ndarray, shape (N,)
        v*~ = U^T G^-1 S H w* for the drawn w*.
    approx_w : float
        Approx(w*) = ||w* - S^T v*||_H^2 (head part) for the drawn w*.
    S : ndarray (N, d) or None
        The sketch, kept only when asked (ambient simulation).
    w : ndarray (d,)
        The drawn w*.
    """

    mu: np.ndarray
    c0_prior: np.ndarray | None
    approx_prior: float | None
    vstar: np.ndarray
    approx_w: float
    S: np.ndarray | None
    w: np.ndarray


def draw_setup(rng: np.random.Generator, N: int, spec: Spectrum, *, prior: bool, keep_S: bool = False,
               head_rows: int | None = None) -> Setup:
    """Draw w* then S from ``rng`` (always in this order) and reduce to G's eigenbasis.

    w*_i = w_sd_i * g_i (d normals), then S in column blocks of ``col_block(N)``, each
    ``standard_normal((N, width)) / sqrt(N)``. With A = H^{1/2} S^T (d x N) = QR, streamed by
    blocks (:class:`scalinglab.numerics.StreamingQR`), G = S H S^T = R^T R; its eigenpairs come
    from the SVD of R (small eigenvalues to relative accuracy; the Gram route squares the
    condition number). The approximation errors are sums of tails, never differences of totals
    (issue 10.7):

    * ``approx_w`` = min_v ||H^{1/2}(w* - S^T v)||^2, the sum of the tail of Q^T H^{1/2} w*;
    * ``approx_prior`` = tr(D (I - P_A)), D = diag(i^-b): for the head modes i < h the tail sums of
      Q^T (sqrt(D_ii) e_i) (where P_A's diagonal is close to 1), for i >= h the difference
      sum_i D_ii - sum_i D_ii (P_A)_ii, which loses little there. h = min(d, N, max(64, N/4))
      (``head_rows`` overrides): at N = 256 it agrees with h = N to 1e-14 (alpha <= 2) and 6e-11
      (alpha = 3), at half the cost of the QR (h = N would triple it).

    Cost O(N^2 d) (the streamed QR with N + 1 right-hand sides when ``prior``).
    """
    d = spec.d
    w = rng.standard_normal(d) * spec.w_sd
    h_rows = 0
    if prior:
        h_rows = min(N, d, max(HEAD_ROWS_MIN, -(-N // 4))) if head_rows is None else min(int(head_rows), d)
    qr = StreamingQR(N, 1 + h_rows)
    B = np.zeros((N, N)) if prior else None
    B_tail = np.zeros((N, N)) if prior else None
    blocks = []
    sqrt_lam = np.sqrt(spec.lam)
    s_head = sqrt_lam * spec.w_sd  # sqrt(i^-b)
    u = sqrt_lam * w
    inv = 1.0 / np.sqrt(N)
    width = col_block(N)
    for j0 in range(0, d, width):
        j1 = min(d, j0 + width)
        Sb = rng.standard_normal((N, j1 - j0))
        Sb *= inv
        X = Sb * sqrt_lam[j0:j1]
        Y = np.zeros((j1 - j0, 1 + h_rows))
        Y[:, 0] = u[j0:j1]
        if prior:
            rows = np.arange(j0, min(j1, h_rows))
            Y[rows - j0, 1 + rows] = s_head[rows]
            Yq = Sb * spec.q[j0:j1]
            B += np.dot(Yq, Yq.T)
            if j1 > h_rows:
                Yt = Yq[:, max(0, h_rows - j0):]
                B_tail += np.dot(Yt, Yt.T)
        qr.add(X.T, Y)
        if keep_S:
            blocks.append(Sb)
    U_R, sigma, Vt = np.linalg.svd(qr.R)
    mu = np.maximum(sigma**2, np.finfo(np.float64).tiny)  # decreasing
    U = Vt.T.copy()
    vstar = (U_R.T @ qr.Z[:, 0]) / np.sqrt(mu)
    approx_w = float(qr.rss[0])
    c0p = apx = None
    if prior:
        bt = np.einsum("ij,ij->j", U, B @ U)
        c0p = bt / mu**2
        bt_tail = np.einsum("ij,ij->j", U, B_tail @ U)
        head_part = float(np.sum(qr.rss[1:]))
        tail_power = float(np.sum(s_head[h_rows:] ** 2))
        apx = head_part + max(tail_power - float(np.sum(bt_tail / mu)), 0.0)
    S = np.concatenate(blocks, axis=1) if keep_S else None
    return Setup(mu=mu, c0_prior=c0p, approx_prior=apx, vstar=vstar, approx_w=approx_w, S=S, w=w)


# ---------------------------------------------------------------------------------------------
# exact second-moment recursion
# ---------------------------------------------------------------------------------------------
def _affine_eig(mu: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of the per-step map of c = diag E[(v~-v~*)(v~-v~*)^T].

    One SGD step maps c -> A c + gamma^2 sigma_e^2 mu with
    A = I - gamma Q,  Q = diag(p) - gamma mu mu^T,  p = 2 mu (1 - gamma mu)  (symmetric).
    Returns (q, V) with Q = V diag(q) V^T; the map is stable iff all q > 0 (A is positive
    definite, so gamma q < 1 always).

    Q is a diagonal minus a rank-one matrix, so its spectrum is found in O(N^2) from the secular
    equation (LAPACK ``dlasd4`` on c I - Q = diag(c - p) + gamma mu mu^T, c = max p), with
    the eigenvectors from the Gu-Eisenstat re-computed rank-one vector (orthogonal to working
    precision). Falls back to a dense ``eigh`` if LAPACK reports a failure.
    """
    try:
        return _affine_eig_secular(mu, gamma)
    except (RuntimeError, FloatingPointError, ValueError):
        Q = np.diag(2.0 * mu * (1.0 - gamma * mu)) - gamma * np.outer(mu, mu)
        return np.linalg.eigh(Q)


def _affine_eig_secular(mu: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.linalg.lapack import dlasd4 as _dlasd4

    N = mu.size
    p = 2.0 * mu * (1.0 - gamma * mu)
    order = np.argsort(-p, kind="stable")  # p descending <=> d ascending
    ps, ms = p[order], mu[order]
    d = np.sqrt(np.maximum(ps[0] - ps, 0.0))
    if N > 1 and not np.all(np.diff(d) > 0):
        raise ValueError("repeated poles")
    nz = float(np.linalg.norm(ms))
    z = ms / nz
    rho = gamma * nz * nz
    if not (rho > 0 and np.all(z > 0)):
        raise ValueError("degenerate rank-one term")
    Dl = np.empty((N, N))  # Dl[j, I] = d_j^2 - sigma_I^2 (accurate differences from dlasd4)
    q = np.empty(N)
    for I in range(N):
        delta, _sigma, work, info = _dlasd4(I, d, z, rho)
        if info != 0:
            raise RuntimeError(f"dlasd4 info={info}")
        Dl[:, I] = delta * work
        q[I] = ps[I] + Dl[I, I]
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        dd = (d[None, :] - d[:, None]) * (d[None, :] + d[:, None])  # [j, k] = d_k^2 - d_j^2
        np.fill_diagonal(dd, 1.0)
        logz2 = np.sum(np.log(np.abs(Dl)), axis=1) - np.sum(np.log(np.abs(dd)), axis=1) - np.log(rho)
        zh = np.exp(0.5 * (logz2 - logz2.max()))
        V = zh[:, None] / Dl
        V /= np.linalg.norm(V, axis=0)[None, :]
    if not np.all(np.isfinite(V)) or not np.all(np.isfinite(q)):
        raise ValueError("non-finite eigenvectors")
    out = np.empty_like(V)
    out[order, :] = V
    return q, out


def recursion(
    mu: np.ndarray,
    c0: np.ndarray,
    sig_e2: float,
    lr: float,
    schedule: str,
    t: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Bias and variance of E R - R(v*) at each checkpoint (exact, Gaussian data).

    Second moments in G's eigenbasis (lin.md §6; E[z z^T C z z^T] = 2GCG + tr(GC) G):

    .. math::

        c \\leftarrow (1 - 2\\gamma_s\\mu + 2\\gamma_s^2\\mu^2)\\odot c
        + \\gamma_s^2\\mu\\,(\\mu\\cdot c) + \\gamma_s^2\\sigma_e^2\\mu,

    exact for the diagonal (no closure error: off-diagonal entries do not feed it).
    Bias: c(0) = c0 and sigma_e = 0. Var: c(0) = 0. Both are mu . c at the horizon.

    Step decay: one run per checkpoint (its horizon); each phase of n constant steps is applied
    in closed form, c_n = V [e^n (V^T c) + (1 - e^n)/(gamma q) (gamma^2 sigma_e^2 V^T mu)],
    e = 1 - gamma q, with one eigen-decomposition per distinct step size lr/2^l.
    Constant: one trajectory, read at every checkpoint.

    Returns
    -------
    bias, var : ndarray, shape (n_t,)
    unstable : bool
        True when some step size used has a map with spectral radius >= 1.
    """
    t = np.asarray(t, dtype=np.int64)
    n_t = t.size
    bias = np.empty(n_t)
    var = np.empty(n_t)
    b0 = float(mu @ c0)
    bias[t == 0] = b0
    var[t == 0] = 0.0
    unstable = False
    pos = np.flatnonzero(t > 0)
    if pos.size == 0:
        return bias, var, unstable
    if schedule == "constant":
        q, V = _affine_eig(mu, lr)
        unstable |= bool(np.any(q <= 0))
        n = t[pos].astype(np.float64)[None, :]
        loge = np.log1p(-lr * q)[:, None]
        en = np.exp(n * loge)
        gn = -np.expm1(n * loge) / q[:, None]  # (1 - e^n)/q ; times gamma * gamma sigma^2 below
        h = V.T @ np.stack([c0, mu], axis=1)
        k = pos.size
        X = V @ np.concatenate([en * h[:, :1], gn * (lr * h[:, 1:])], axis=1)
        bias[pos] = mu @ X[:, :k]
        var[pos] = sig_e2 * (mu @ X[:, k:])
        return bias, var, unstable
    # step decay: horizons t[pos], phases l = 0..L-1
    T = t[pos]
    lengths = [phase_lengths(x) for x in T]
    Lmax = max(len(x) for x in lengths)
    N = mu.size
    m = pos.size
    # columns 0..m-1: bias channel (c_0 = c0, no noise); m..2m-1: variance channel per unit
    # sigma_e^2 (c_0 = 0); one column per horizon in each
    X = np.zeros((N, 2 * m))
    X[:, :m] = c0[:, None]
    for ell in range(Lmax):
        gam = float(np.ldexp(lr, -ell))
        idx = np.array([k for k in range(m) if len(lengths[k]) > ell], dtype=np.int64)
        n = np.array([lengths[k][ell] for k in idx], dtype=np.float64)
        q, V = _affine_eig(mu, gam)
        unstable |= bool(np.any(q <= 0))
        loge = np.log1p(-gam * q)[:, None]
        en = np.exp(n[None, :] * loge)
        gn = -np.expm1(n[None, :] * loge) / q[:, None]
        cols = np.concatenate([idx, idx + m])
        Y = V.T @ np.concatenate([X[:, idx], X[:, idx + m], mu[:, None]], axis=1)
        k = idx.size
        Y[:, :k] *= en
        Y[:, k:2 * k] = en * Y[:, k:2 * k] + gn * (gam * Y[:, 2 * k:])
        X[:, cols] = V @ Y[:, :2 * k]
    bias[pos] = mu @ X[:, :m]
    var[pos] = sig_e2 * (mu @ X[:, m:])
    return bias, var, unstable
