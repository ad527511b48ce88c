r"""The BAP DMFT in discrete time: the theory of the discrete gradient descent the simulation runs.

Derivation: ``docs/theory/bap_discrete_time.md`` (§ numbers below refer to it). In short: one GD
step on the loss :math:`E(f-y)^2` (no 1/2, so its gradient carries a 2) maps the error vector
:math:`v = w^* - A^Tw/\sqrt N` to :math:`v_{t+1} = (I - 2\eta K)v_t`, :math:`K = (A^TA/N)(\Psi^T\Psi/P)`
(§1), so :math:`v_t = (I-2\eta K)^t w^*` where gradient flow has :math:`e^{-K\tau}w^*`,
:math:`\tau = 2\eta t`. With :math:`z = 1 + 2\eta s`,

.. math::

    (I - 2\eta K)^t = \frac{1}{2\pi i}\oint_\Gamma (1 + 2\eta s)^t\,(s + K)^{-1}\,ds

for any closed Γ around the spectrum of −K (§2). The resolvent is all the DMFT needs: its
two-frequency kernel :math:`C_0(s,s')` (docs/theory/bap.md §2, E3) is the deterministic equivalent of
:math:`w^{*T}(s+K^T)^{-1}\Lambda(s'+K)^{-1}w^*` for any s, s' off the spectrum, so

.. math::

    L(t) = \frac{1}{(2\pi i)^2}\oint\oint (1+2\eta s)^t (1+2\eta s')^t\, C_0(s, s')\,ds\,ds'

exactly: the step factor :math:`(1-2\eta e)^t` replaces the flow's :math:`e^{-e\tau}` (a z-transform in
place of the Laplace transform), and nothing else changes; the train loss uses :math:`C_1 = \rho C_0`
and ensembles the same X kernel as the flow. Two contours, both in :math:`w = \log z` (§3):

* **circle** (t < n/2, n = ``talbot_nodes``): :math:`|z| = e^{a/(t+1)}`, a = 2, trapezoid with
  m >= 17.5 (t+1) nodes; exact for any spectrum inside the unit disc (aliasing <= e^{-35});
* **mapped Talbot** (t >= n/2): the fixed-Talbot contour :math:`w = \rho\theta(\cot\theta + i)`,
  :math:`\rho = 0.4 n/t <= 0.8`, i.e. the flow's contour with :math:`s = (e^{w}-1)/(2\eta)` in
  place of :math:`s = w/(2\eta)`. It encloses the spectrum in z in (0, 1] and leaves out the modes
  with :math:`2\eta e > 1` (z < 0, the overshooting top modes); while their weight
  :math:`|z_{min}|^t > 10^{-12}` the circle is used instead up to t = 128, and later values are
  flagged when :math:`|z_{min}|^t > 10^{-9}`.

Each checkpoint is computed on its own (its own contour and its own mode-sum split), so a value
depends on its t only, never on the other checkpoints.
"""
from __future__ import annotations

import math

import numpy as np

from .dmft import _Tail, _inv, _newton, contour_losses, kappa_df, kappa_real, talbot_rule

__all__ = ["top_edge", "contour", "kappa_path", "discrete_losses", "exact_losses_infinite", "circle_nodes",
           "T_CIRCLE_MAX"]

#: Circle radius |z| = exp(_CIRCLE_A/(t+1)): the double sum's terms grow by at most e^(2 a) = 55.
_CIRCLE_A = 2.0
#: Trapezoid nodes on the circle: m >= _ALIAS_DIGITS (t+1)/a, so the aliasing error is <= e^-35 ~ 1e-15.
_ALIAS_DIGITS = 35.0
#: Mapped Talbot is used from t >= _TALBOT_FROM * talbot_nodes (rho = 0.4 n/t <= 0.8 < 1).
_TALBOT_FROM = 0.5
#: Weight of the z < 0 modes (2 lr e > 1) the mapped Talbot leaves out: use the circle while above this ...
_NEG_SWITCH = 1e-12
#: ... up to this t (cost ~ t^2 h per value); beyond it flag the value while the weight exceeds _NEG_FLAG.
T_CIRCLE_MAX = 128
_NEG_FLAG = 1e-9


def top_edge(lam: np.ndarray, N: float, P: float) -> float:
    r"""Top edge :math:`e_{max}` of the deterministic-equivalent spectrum of K (bap_discrete_time.md §4).

    On the real axis below the spectrum κ(s) is real and solves :math:`s = g(\kappa) =
    \kappa(1-\mathrm{df}(\kappa)/P)(1-\mathrm{df}(\kappa)/N)`; g → −∞ at both ends of
    :math:`\kappa \in (-\infty, -\lambda_1)`, and the spectrum's lower end in s is the maximum of g there
    (the branch point g' = 0), so :math:`e_{max} = -\max_{\kappa<-\lambda_1} g(\kappa)`; :math:`\lambda_1`
    when N = P = inf. Found on a log grid of :math:`-\kappa-\lambda_1` refined by golden section
    (relative accuracy ~1e-8; only used to choose the contour and to flag).
    """
    lam = np.asarray(lam, dtype=np.float64)
    invN, invP = _inv(N), _inv(P)
    l1 = float(lam[0])
    if invN == 0.0 and invP == 0.0:
        return l1
    tr = float(lam.sum())

    def g(x: float) -> float:
        kap = -l1 - math.exp(x)
        df = float(np.sum(lam / (lam + kap)))
        return kap * (1.0 - df * invP) * (1.0 - df * invN)

    xs = np.linspace(math.log(1e-12 * l1), math.log(10.0 * (l1 + tr)), 121)
    vals = np.array([g(x) for x in xs])
    i = int(np.argmax(vals))
    a, b = xs[max(i - 1, 0)], xs[min(i + 1, xs.size - 1)]
    gr = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - gr * (b - a), a + gr * (b - a)
    gc, gd = g(c), g(d)
    for _ in range(60):
        if gc > gd:
            b, d, gd = d, c, gc
            c = b - gr * (b - a)
            gc = g(c)
        else:
            a, c, gc = c, d, gd
            d = a + gr * (b - a)
            gd = g(d)
    return -max(gc, gd, float(vals[i]))


def circle_nodes(t: int) -> int:
    """Nodes n per half of the circle contour at step t (m = 2n - 1 in all): m >= 17.5 (t + 1)."""
    return int(math.ceil((_ALIAS_DIGITS * (t + 1) / _CIRCLE_A + 1.0) / 2.0))


def contour(t: int, lr: float, n_talbot: int, kind: str):
    r"""Nodes, weights and path of the discrete-time contour at step t >= 1 (bap_discrete_time.md §3).

    Returns ``(s, c, path, u)``: nodes :math:`s_j = (e^{w_j}-1)/(2\eta)` for j = 0..n-1 (node 0 real
    positive, the others in the upper half plane; j < 0 are the conjugates), weights :math:`c_j` such
    that :math:`\frac{1}{2\pi i}\oint (1+2\eta s)^t F(s)\,ds \approx \sum_{j} c_j F(s_j)`, and the
    contour parametrisation ``path(u) -> s`` with the nodes at ``u`` (for the κ continuation).

    ``kind = "circle"``: :math:`w_j = a/(t+1) + i\,2\pi j/m`, :math:`c_j = e^{(t+1)w_j}/(2\eta m)`.
    ``kind = "talbot"``: :math:`w_j = \rho\hat s_j`, :math:`\rho = 0.4n/t`,
    :math:`c_j = \rho\,\hat s'(\theta_j)\,e^{(t+1)w_j}/(2\eta\cdot 2n i)` (the fixed-Talbot rule of
    :func:`scalinglab.models.bap.dmft.talbot_rule`, with ds = e^w dw/(2η)).
    """
    two_eta = 2.0 * float(lr)
    if kind == "circle":
        n = circle_nodes(t)
        m = 2 * n - 1
        a = _CIRCLE_A / (t + 1.0)
        u = 2.0 * np.pi * np.arange(n) / m
        w = a + 1j * u
        c = np.exp((t + 1.0) * w) / (two_eta * m)

        def path(uu):
            return np.expm1(a + 1j * np.asarray(uu)) / two_eta
    elif kind == "talbot":
        n = int(n_talbot)
        shat, chat = talbot_rule(n)  # chat = shat' e^{0.4 n shat} / (2 n i)
        rho = 0.4 * n / t
        w = rho * shat
        u = np.arange(n) * np.pi / n
        c = rho * chat * np.exp(w) / two_eta

        def path(uu):
            uu = np.asarray(uu, dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                sh = np.where(uu == 0.0, 1.0 + 0j, uu * (1.0 / np.tan(uu) + 1j))
            return np.expm1(rho * sh) / two_eta
    else:
        raise ValueError(kind)
    s = np.expm1(w) / two_eta
    s[0] = s[0].real
    return s, c, path, u


def kappa_path(s: np.ndarray, path, u: np.ndarray, dft: _Tail, N: float, P: float,
               kmin: float | None = None) -> tuple[np.ndarray, bool]:
    r"""κ(s_j) along one contour by continuation from its real positive node (bap.md §6.7).

    Node 0 (real, > 0) is bracketed (:func:`scalinglab.models.bap.dmft.kappa_real`); node j starts
    complex Newton from node j-1; if it fails, the path from :math:`u_{j-1}` to :math:`u_j` is split
    into 4, then 16 sub-steps. ``kmin``: :math:`\mathrm{df}(\kappa_{min}) = \min(N, P)`, if known.
    Returns ``(kappa (n,), converged)``.
    """
    invN, invP = _inv(N), _inv(P)
    if invN == 0.0 and invP == 0.0:
        return s.astype(np.complex128), True
    n = s.size
    out = np.empty(n, dtype=np.complex128)
    out[0] = kappa_real(np.array([s[0].real]), dft, N, P, kmin=kmin)[0]
    ok = True
    for j in range(1, n):
        kap, conv = _newton(out[j - 1:j], s[j:j + 1], dft, invN, invP)
        for nsub in (4, 16):
            if conv.all():
                break
            kb = out[j - 1:j]
            for uu in np.linspace(u[j - 1], u[j], nsub + 1)[1:]:
                kb, conv = _newton(kb, np.atleast_1d(path(uu)).astype(np.complex128), dft, invN, invP)
            kap = kb
        ok &= bool(conv.all())
        out[j] = kap[0]
    return out, ok


def _neg_weight(z_min: float, t: int) -> float:
    """|z_min|^t for z_min < 0 (weight of the overshooting modes the mapped Talbot leaves out), else 0."""
    return abs(z_min) ** t if z_min < 0.0 else 0.0


def choose_contour(t: int, z_min: float, n_talbot: int) -> str:
    """"circle" or "talbot" for step t (bap_discrete_time.md §3): circle below n/2, and while the
    modes with z < 0 still weigh |z_min|^t > 1e-12, up to t = 128."""
    if t < _TALBOT_FROM * n_talbot:
        return "circle"
    if _neg_weight(z_min, t) > _NEG_SWITCH and t <= T_CIRCLE_MAX:
        return "circle"
    return "talbot"


def exact_losses_infinite(lam: np.ndarray, wstar: np.ndarray, lr: float, t: np.ndarray) -> np.ndarray:
    r"""N = P = inf: no randomness, :math:`L(t) = \sum_k \lambda_k w_k^{*2}(1-2\eta\lambda_k)^{2t}` exactly."""
    q = 1.0 - 2.0 * float(lr) * lam
    return np.array([float(np.sum(lam * wstar**2 * q ** (2.0 * float(tt)))) for tt in np.asarray(t)])


def discrete_losses(
    lam: np.ndarray,
    wstar: np.ndarray,
    N: float,
    P: float,
    t: np.ndarray,
    lr: float,
    *,
    n_nodes: int = 24,
    ensemble: int = 1,
    contour_kind: str | None = None,
) -> dict[str, np.ndarray]:
    r"""Test and train loss of the discrete-time DMFT at GD steps ``t`` (all >= 1), for one (N, P).

    :math:`L(t) = \sum_{j,j'} c_j c_{j'} C_0(s_j, s_{j'})` on the contour of :func:`contour`
    (bap_discrete_time.md §2–§3), the same kernel as the flow (docs/theory/bap.md §2), summed by
    :func:`scalinglab.models.bap.dmft.contour_losses`. Returns ``loss``, ``train_loss`` (NaN for
    P = inf), ``flag_loss``, ``flag_train_loss`` (shape (n_t,)) and ``contour`` (the kind used per t).
    Flags: those of :func:`contour_losses` (digits lost, resonance, negative), Newton failure, the
    deterministic-equivalent spectrum reaching :math:`|1-2\eta e_{max}| \ge 1` (GD unstable), or the
    left-out weight :math:`|z_{min}|^t > 10^{-9}` of a mapped-Talbot value. ``contour_kind`` forces
    one contour (tests). N = P = inf goes through the contour too (κ = s); the public theory uses
    :func:`exact_losses_infinite` there.
    """
    t = np.asarray(t, dtype=np.int64)
    n_t = t.size
    invN, invP = _inv(N), _inv(P)
    w2 = wstar**2
    L0 = float(np.sum(lam * w2))
    tail = _Tail(lam, np.stack([lam * w2, lam**2 * w2, lam, lam**2, lam], axis=1))
    dft = _Tail(lam, lam[:, None]) if (invN or invP) else None
    z_min = 1.0 - 2.0 * float(lr) * top_edge(lam, N, P)
    kmin = kappa_df(lam, min(N, P)) if dft is not None else None
    loss, train = np.empty(n_t), np.empty(n_t)
    fl, flt = np.zeros(n_t, bool), np.zeros(n_t, bool)
    kinds = []
    for i, tt in enumerate(t.tolist()):
        kind = contour_kind or choose_contour(tt, z_min, n_nodes)
        kinds.append(kind)
        s, c, path, u = contour(tt, lr, n_nodes, kind)
        kap, ok = kappa_path(s, path, u, dft, N, P, kmin=kmin)
        L, Lh, f1, f2 = contour_losses(tail, s[None], c[None], kap[None], N, P, ensemble=ensemble, L0=L0)
        bad = (not ok) or z_min <= -1.0 or (kind == "talbot" and _neg_weight(z_min, tt) > _NEG_FLAG)
        loss[i], train[i] = L[0], Lh[0]
        fl[i], flt[i] = bool(f1[0]) or bad, bool(f2[0]) or bad
    return {"loss": loss, "train_loss": train, "flag_loss": fl, "flag_train_loss": flt,
            "contour": np.array(kinds, dtype=object)}
