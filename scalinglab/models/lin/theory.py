"""LIN theory tiers: ``exact_given_draw`` (second-moment recursion for a drawn sketch) and ``ridge_bridge``.

See :mod:`scalinglab.models.lin` and ``docs/theory/lin.md`` §5–§6.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from scalinglab.errors import SpecError

from ..base import Curves, Point
from .core import draw_setup, recursion, spectrum
from .de import de_curves
from .params import TIERS, Params, canonical, check_domain, resolve_d

__all__ = ["theory", "paired_theory"]


def _prepare(point: Point) -> tuple[Params, np.ndarray, np.ndarray, object]:
    params = point.params if isinstance(point.params, Params) else Params.model_validate(dict(point.params))
    Ns = np.asarray(point.N, dtype=np.float64)
    t = np.asarray(point.t, dtype=np.int64)
    check_domain(point.alpha, point.beta, Ns, point.P, t, params)
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise SpecError("lin", "t", t.tolist(), "strictly increasing checkpoints")
    d = params.d if params.d is not None else resolve_d(point.alpha, Ns.max())
    spec = spectrum(2.0 * point.alpha, 2.0 * (point.alpha + point.beta), int(d))
    return params, Ns.astype(np.int64), t, spec


# ---------------------------------------------------------------------------------------------
# theory
# ---------------------------------------------------------------------------------------------
def theory(point: Point, *, tier: str | None = None, rngs: Sequence[np.random.Generator] | None = None) -> Curves:
    """Expected excess risk E R(v_t) - sigma^2 and its split, shape (n_N, n_t) each.

    Parameters
    ----------
    point : Point
        alpha, beta, P = inf, N (sketch sizes), t (checkpoints), params (:class:`Params`).
    tier : {"exact_given_draw", "ridge_bridge"}, optional (default: the params' tier; old names "exact", "de")
        "exact": the second-moment recursion for ``params.sketches`` drawn sketches
        (rngs[i] draws them for N index i; same draw order as :func:`simulate`).
        "de": the deterministic equivalent at ridge c(a)/(N_eff lr) (our bridge, docs/theory/lin.md §5;
        step-decay only; flagged where a is outside [1.5, 2], beta != 0, lr != 0.1 or
        sigma2 != 1, where c was not fitted: at sigma2 = 0 the best c is 0.35 / 0.32 at
        a = 1.5 / 2 and the fitted c errs by 2.5-4.5%).
    rngs : sequence of numpy.random.Generator, optional
        One per N; required by "exact".

    Returns
    -------
    Curves
        values "loss", "approx", "bias", "var"; loss = approx + bias + var (to rounding).
        "exact": approx = E Approx (prior) or Approx(w*) (fixed), + tau; bias = mu.c_t with
        c_0 = (v~*)^2 (or its prior mean) and no noise; var = mu.c_t with c_0 = 0 and noise
        sigma^2 + approx. flags["loss"] marks values where the map's spectral radius was >= 1.
    """
    params, Ns, t, spec = _prepare(point)
    tier = canonical(tier or params.theory)
    n_N, n_t = Ns.size, t.size
    out = {k: np.empty((n_N, n_t)) for k in ("loss", "approx", "bias", "var")}
    flag = np.zeros((n_N, n_t), dtype=bool)
    if tier == "ridge_bridge":
        if params.schedule != "step-decay":
            raise SpecError("lin.theory", "tier", tier,
                            "'exact_given_draw' for schedule='constant' (the bridge is fitted for step decay)")
        for i, N in enumerate(Ns):
            v = de_curves(spec, int(N), t, params.sigma2, params.lr)
            for k in out:
                out[k][i] = v[k]
        a = spec.a
        calibrated = (1.5 - 1e-12 <= a <= 2.0 + 1e-12 and point.beta == 0 and abs(params.lr - 0.1) < 1e-12
                      and params.sigma2 == 1.0)
        flag[:] = not calibrated
        return Curves(values=out, source="ridge_bridge", flags={"loss": flag})
    if tier != "exact_given_draw":
        raise SpecError("lin.theory", "tier", tier, f"one of {list(TIERS)}")
    if rngs is None or len(rngs) != n_N:
        raise SpecError("lin.theory", "rngs", None if rngs is None else f"{len(rngs)} generators",
                        f"one numpy Generator per N ({n_N}); tier 'exact_given_draw' draws the sketches")
    prior = params.target in ("prior", "prior_mean")
    for i, N in enumerate(Ns):
        acc = {k: np.zeros(n_t) for k in ("approx", "bias", "var")}
        for _ in range(params.sketches):
            st = draw_setup(rngs[i], int(N), spec, prior=prior)
            if prior:
                apx, c0 = st.approx_prior + spec.tail, st.c0_prior
            else:
                apx, c0 = st.approx_w + spec.tail, st.vstar**2
            b, v, unstable = recursion(st.mu, c0, params.sigma2 + apx, params.lr, params.schedule, t)
            acc["approx"] += apx
            acc["bias"] += b
            acc["var"] += v
            if unstable:
                flag[i, t > 0] = True
        for k in acc:
            out[k][i] = acc[k] / params.sketches
        out["loss"][i] = out["approx"][i] + out["bias"][i] + out["var"][i]
    return Curves(values=out, source="exact_given_draw", flags={"loss": flag})


def paired_theory(point: Point, rngs: Sequence[Sequence[np.random.Generator]], *, tier: str | None = None) -> Curves:
    """The ``exact_given_draw`` tier for exactly the (w*, S) each simulation seed trains on (issue 10.2).

    ``rngs[i][s]`` is (a fresh copy of) simulation seed s's generator for N index i: it draws w* then S
    first, so the recursion runs for that seed's sketch and its drawn w* (``target = "prior"`` or
    ``"fixed"``): the mean over seeds is then the prior average. With ``target = "prior_mean"`` it runs
    for seed s's sketch averaged analytically over w* (the simulation still trains on a drawn w*, so a
    residual then carries the w* spread in its own standard error). Shape ``(n_N, n_seed, n_t)`` for
    ``loss``, ``approx``, ``bias``, ``var``.
    """
    tier = canonical(tier or "exact_given_draw")
    if tier != "exact_given_draw":
        raise SpecError("lin.theory", "tier", tier, "'exact_given_draw' (the only LIN tier that is random given S)")
    params, Ns, t, spec = _prepare(point)
    n_seed = len(rngs[0])
    out = {k: np.empty((Ns.size, n_seed, t.size)) for k in ("loss", "approx", "bias", "var")}
    flag = np.zeros((Ns.size, n_seed, t.size), dtype=bool)
    for i, N in enumerate(Ns):
        for s in range(n_seed):
            if params.target == "prior_mean":
                st = draw_setup(rngs[i][s], int(N), spec, prior=True)
                apx, c0 = st.approx_prior + spec.tail, st.c0_prior
            else:
                st = draw_setup(rngs[i][s], int(N), spec, prior=False)
                apx, c0 = st.approx_w + spec.tail, st.vstar**2
            b, v, unstable = recursion(st.mu, c0, params.sigma2 + apx, params.lr, params.schedule, t)
            out["approx"][i, s], out["bias"][i, s], out["var"][i, s] = apx, b, v
            out["loss"][i, s] = apx + b + v
            flag[i, s, t > 0] = unstable
    return Curves(values=out, source="exact_given_draw", flags={"loss": flag})
