r"""The 4+3 phase diagram of compute-optimal PLRF and its exponents.

Paquette, Paquette, Xiao, Pennington, "4+3 Phases of Compute-Optimal Neural Scaling Laws",
arXiv:2405.15074; table and boundaries as in ``docs/theory/plrf.md`` §5. Compute-optimal
scaling :math:`N^* \propto C^{\xi}`, :math:`\mathcal P^* \propto C^{-\eta}` with C = N·t·B.

.. math::

    \begin{array}{llll}
    \text{Ia}  & 2\beta<1<2\alpha & \xi = \tfrac{1}{2\alpha+1} & \eta = \tfrac{2\alpha+2\beta-1}{2\alpha+1}\\
    \text{Ib}  & 2\beta<1,\ 2\alpha<1 & \tfrac12 & \tfrac{2\alpha+2\beta-1}{2}\\
    \text{Ic}  & 2\beta>1,\ \alpha<\tfrac14 & \tfrac{2\alpha+2\beta-1}{2(3\alpha+2\beta-2\alpha\beta-1)}
               & \tfrac{\alpha(2\alpha+2\beta-1)}{3\alpha+2\beta-2\alpha\beta-1}\\
    \text{II}  & \tfrac12<\beta<\alpha & \tfrac{\beta}{\alpha+\beta} & 1-\tfrac{1}{2(\alpha+\beta)}\\
    \text{III} & \tfrac12<\alpha\le\beta & \tfrac12 & 1-\tfrac{1}{4\alpha}\\
    \text{IVa} & 2\beta>1,\ 1-\tfrac{1}{\sqrt2}\le\alpha<\tfrac12 & \tfrac12 & \alpha\\
    \text{IVb} & 2\beta>1,\ \tfrac14\le\alpha<1-\tfrac1{\sqrt2} & \tfrac{\beta-\alpha}{2\beta-\alpha-2\alpha\beta}
               & \tfrac{(1-2\alpha)(2\alpha+2\beta-1)}{2(2\beta-\alpha-2\alpha\beta)}
    \end{array}

and "excluded" where 2(α+β) ≤ 1. Points on a boundary belong to the phase on the side of
larger α (for the vertical boundaries 2α = 1, α = 1/4, α = 1 − 1/√2) or larger β (for 2β = 1);
on α = β (α > 1/2) the point is Phase III (both rows agree there).

Provenance (plrf.md §5): Ia, Ib (α > 1/4), II, III are the paper's rows; Ic's result is
conditional in the paper; the Phase-IV rows, the α = 1 − 1/√2 split and the labels "IVa"/"IVb"
are *our derivation* (max-ansatz of the §4 terms) and not read in the paper, and Ib below
α = 1/4 is "believed, not proven". :data:`PROVEN` / :func:`is_derived` / :func:`is_proven`
say so; plots hatch the derived regions.

References
----------
E. Paquette, C. Paquette, L. Xiao, J. Pennington, arXiv:2405.15074 (2024).
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "PHASES", "PROVEN", "ALPHA_IV_SPLIT", "phase", "phases", "exponents", "is_derived", "is_proven", "unproven",
    "boundaries", "labels",
]

#: Phase names, in table order, plus "excluded".
PHASES: tuple[str, ...] = ("Ia", "Ib", "Ic", "II", "III", "IVa", "IVb", "excluded")

#: True where the row is read in the paper (plrf.md §5); False where it is our derivation
#: (IVa, IVb) or conditional in the paper (Ic). "excluded" is not a phase (True: nothing to hatch).
PROVEN: dict[str, bool] = {
    "Ia": True, "Ib": True, "Ic": False, "II": True, "III": True, "IVa": False, "IVb": False, "excluded": True,
}

#: α = 1 − 1/√2: the IVa/IVb boundary, the root of 2α² − 4α + 1 (plrf.md §5, [D]).
ALPHA_IV_SPLIT: float = 1.0 - 1.0 / np.sqrt(2.0)


def phases(alpha, beta) -> np.ndarray:
    """Vectorised :func:`phase`: an array of phase names with the broadcast shape of the inputs."""
    a, b = np.broadcast_arrays(np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64))
    out = np.full(a.shape, "excluded", dtype=object)
    ok = 2.0 * (a + b) > 1.0
    low_b = 2.0 * b < 1.0
    high_a = 2.0 * a >= 1.0
    out[ok & low_b & high_a] = "Ia"
    out[ok & low_b & ~high_a] = "Ib"
    hb = ok & ~low_b
    out[hb & high_a & (b < a)] = "II"
    out[hb & high_a & (b >= a)] = "III"
    out[hb & ~high_a & (a >= ALPHA_IV_SPLIT)] = "IVa"
    out[hb & ~high_a & (a < ALPHA_IV_SPLIT) & (a >= 0.25)] = "IVb"
    out[hb & (a < 0.25)] = "Ic"
    return out


def phase(alpha: float, beta: float) -> str:
    """The phase of (α, β): one of :data:`PHASES` (plrf.md §5; boundary convention in the module doc)."""
    return str(phases(alpha, beta)[()])


def exponents(alpha: float, beta: float) -> tuple[float, float]:
    r"""Compute-optimal exponents (ξ, η): :math:`N^*\propto C^\xi`, :math:`\mathcal P^*\propto C^{-\eta}`.

    The table of the module docstring; (nan, nan) where excluded.
    """
    a, b = float(alpha), float(beta)
    ph = phase(a, b)
    s = 2 * a + 2 * b - 1
    if ph == "Ia":
        return 1 / (2 * a + 1), s / (2 * a + 1)
    if ph == "Ib":
        return 0.5, s / 2
    if ph == "Ic":
        den = 3 * a + 2 * b - 2 * a * b - 1
        return s / (2 * den), a * s / den
    if ph == "II":
        return b / (a + b), 1 - 1 / (2 * (a + b))
    if ph == "III":
        return 0.5, 1 - 1 / (4 * a)
    if ph == "IVa":
        return 0.5, a
    if ph == "IVb":
        den = 2 * b - a - 2 * a * b
        return (b - a) / den, (1 - 2 * a) * s / (2 * den)
    return float("nan"), float("nan")


def is_derived(name: str) -> bool:
    """True for rows that are our derivation or conditional, not read in the paper (Ic, IVa, IVb)."""
    if name not in PROVEN:
        from scalinglab.errors import SpecError

        raise SpecError("phases", "phase", name, f"one of {PHASES}")
    return not PROVEN[name]


def is_proven(alpha: float, beta: float) -> bool:
    """Whether the paper proves the row at this point: Ib below α = 1/4 is only believed (plrf.md §5)."""
    ph = phase(alpha, beta)
    if ph == "Ib" and alpha < 0.25:
        return False
    return PROVEN[ph]


def boundaries(alpha_range: tuple[float, float] = (0.0, 1.5),
               beta_range: tuple[float, float] = (0.0, 1.5)) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Phase boundaries as polylines ``(name, alpha, beta)`` clipped to the box (α horizontal, β vertical).

    Names: ``"2(alpha+beta)=1"`` (edge of the excluded region), ``"2alpha=1"`` (high-dimensional
    line), ``"2beta=1"``, ``"alpha=beta"`` (II/III), ``"alpha=1/4"`` (Ic/IVb),
    ``"alpha=1-1/sqrt2"`` (IVa/IVb, derived), and ``"alpha=1/4 (Ib proof)"`` where Ib is believed
    but not proven below α = 1/4 (not a phase boundary: draw it dashed).
    """
    a0, a1 = map(float, alpha_range)
    b0, b1 = map(float, beta_range)
    out: list[tuple[str, np.ndarray, np.ndarray]] = []

    def add(name: str, x: np.ndarray, y: np.ndarray) -> None:
        keep = (x >= a0 - 1e-12) & (x <= a1 + 1e-12) & (y >= b0 - 1e-12) & (y <= b1 + 1e-12)
        if np.count_nonzero(keep) >= 2:
            out.append((name, x[keep], y[keep]))

    def vline(name: str, a: float, lo: float) -> None:
        if a0 <= a <= a1:
            lo = max(lo, b0)
            if lo < b1:
                add(name, np.array([a, a]), np.array([lo, b1]))

    x = np.linspace(max(a0, 0.0), min(a1, 0.5), 64)
    add("2(alpha+beta)=1", x, 0.5 - x)
    vline("2alpha=1", 0.5, 0.0)
    hx = np.array([max(a0, 0.0), a1])
    if b0 <= 0.5 <= b1 and hx[0] < hx[1]:
        add("2beta=1", hx, np.array([0.5, 0.5]))
    dl = np.array([max(0.5, a0, b0), min(a1, b1)])
    if dl[0] < dl[1]:
        add("alpha=beta", dl, dl)
    vline("alpha=1/4", 0.25, 0.5)
    vline("alpha=1-1/sqrt2", ALPHA_IV_SPLIT, 0.5)
    if a0 <= 0.25 <= a1 and b0 <= 0.5:
        lo, hi = max(0.25, b0), min(0.5, b1)
        if lo < hi:
            add("alpha=1/4 (Ib proof)", np.array([0.25, 0.25]), np.array([lo, hi]))
    return out


def labels() -> list[tuple[str, float, float, bool]]:
    """Label anchors ``(phase, alpha, beta, proven)``, one point inside each region (α, β ∈ [0, 1.5])."""
    pts = [("Ia", 1.0, 0.2), ("Ib", 0.38, 0.3), ("Ic", 0.12, 1.0), ("II", 1.2, 0.8), ("III", 0.8, 1.2),
           ("IVa", 0.4, 1.0), ("IVb", 0.272, 1.0), ("excluded", 0.12, 0.12)]
    return [(name, a, b, PROVEN[name]) for name, a, b in pts]


def unproven(alpha_range: tuple[float, float], beta_range: tuple[float, float]) -> list[tuple[list, list]]:
    """Polygons ``(alphas, betas)`` of the rows that are derived, not read in the paper (hatched on maps):
    Phases IV (α < 1/2, 2β > 1) and Ic."""
    a_rng, b_rng = alpha_range, beta_range
    out = []
    if a_rng[0] < 0.5:
        lo = max(a_rng[0], 0.0)
        out.append(([lo, 0.5, 0.5, lo], [max(0.5, b_rng[0]), max(0.5, b_rng[0]), b_rng[1], b_rng[1]]))
    return out


#: Title of the overlay on measured maps.
TITLE = "the 4+3 phase diagram"
