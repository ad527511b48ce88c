"""The 4+3 phase table (plrf.md §5): self-consistency with the §4 asymptotic terms, continuity
of the exponents across boundaries, classification, and the plotting helpers."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from scalinglab.analysis import phases as ph
from scalinglab.errors import SpecError
from scalinglab.models import _plrf_de as de
from scalinglab.models import plrf

#: One interior point per phase (away from the boundaries).
INTERIOR = {
    "Ia": (0.9, 0.2), "Ib": (0.38, 0.3), "Ic": (0.15, 1.0), "II": (1.2, 0.8), "III": (0.8, 1.2),
    "IVa": (0.4, 1.0), "IVb": (0.27, 2.0),
}


@pytest.mark.parametrize("name", sorted(INTERIOR))
def test_table_is_the_optimum_of_the_asymptotic_terms(name):
    """Brute force: min over N of F0 + Fpp + Fac + Kpp (the §4 terms with their constants, the
    library's ``asymptotic_terms``; t = gamma(N) f / N with f = N r B, B = 1, v = 10 N) at
    f = 1e40..1e60; slopes of log N* and log P* against log f equal the table's (xi, eta) to 0.01."""
    alpha, beta = INTERIOR[name]
    assert ph.phase(alpha, beta) == name
    p = plrf.Params(v_ratio=10, lr_scale=0.5, batch=1)
    fs = np.geomspace(1e40, 1e60, 5)
    lN, lL = [], []
    for f in fs:
        def obj(x: float) -> float:
            N = np.exp(x)
            return float(np.log(de.asymptotic_terms(alpha, beta, N, np.array([f / N]), p)["loss"][0]))

        res = minimize_scalar(obj, bounds=(0.05 * np.log(f), 0.95 * np.log(f)), method="bounded",
                              options={"xatol": 1e-7})
        assert 0.06 * np.log(f) < res.x < 0.94 * np.log(f)
        lN.append(res.x)
        lL.append(res.fun)
    xi = np.polyfit(np.log(fs), lN, 1)[0]
    eta = -np.polyfit(np.log(fs), lL, 1)[0]
    xi0, eta0 = ph.exponents(alpha, beta)
    print(f"\n{name} {INTERIOR[name]}: brute force xi={xi:.4f} eta={eta:.4f}; table xi={xi0:.4f} eta={eta0:.4f}")
    assert xi == pytest.approx(xi0, abs=0.01)
    assert eta == pytest.approx(eta0, abs=0.01)


# (boundary, a point on it, direction crossing it, phase below, phase above)
CROSSINGS = [
    ("2beta=1, alpha>1/2", (0.9, 0.5), (0.0, 1.0), "Ia", "II"),
    ("alpha=beta", (0.8, 0.8), (-1.0, 1.0), "II", "III"),
    ("2alpha=1, 2beta<1", (0.5, 0.3), (1.0, 0.0), "Ib", "Ia"),
    ("2alpha=1, 2beta>1", (0.5, 0.9), (1.0, 0.0), "IVa", "III"),
    ("2beta=1, IVa", (0.4, 0.5), (0.0, 1.0), "Ib", "IVa"),
    ("2beta=1, IVb", (0.27, 0.5), (0.0, 1.0), "Ib", "IVb"),
    ("2beta=1, alpha<1/4", (0.2, 0.5), (0.0, 1.0), "Ib", "Ic"),
    ("alpha=1/4", (0.25, 1.0), (1.0, 0.0), "Ic", "IVb"),
]


@pytest.mark.parametrize("name,pt,direction,below,above", CROSSINGS, ids=[c[0] for c in CROSSINGS])
def test_exponents_continuous_across_boundaries(name, pt, direction, below, above):
    eps = 1e-7
    a0, b0 = pt
    da, db = direction
    lo = (a0 - eps * da, b0 - eps * db)
    hi = (a0 + eps * da, b0 + eps * db)
    assert ph.phase(*lo) == below and ph.phase(*hi) == above
    for x, y in zip(ph.exponents(*lo), ph.exponents(*hi)):
        assert abs(x - y) < 1e-5


@pytest.mark.parametrize("beta", [0.8, 1.0, 2.0])
def test_xi_jumps_and_eta_is_continuous_at_the_IV_split(beta):
    """Across alpha = 1 - 1/sqrt2 (2 beta > 1) xi jumps, eta does not (plrf.md §5)."""
    a = ph.ALPHA_IV_SPLIT
    assert 2 * a * a - 4 * a + 1 == pytest.approx(0.0, abs=1e-12)
    xl, el = ph.exponents(a - 1e-9, beta)
    xr, er = ph.exponents(a + 1e-9, beta)
    assert (ph.phase(a - 1e-9, beta), ph.phase(a + 1e-9, beta)) == ("IVb", "IVa")
    assert abs(el - er) < 1e-6
    assert xr == 0.5 and xl - xr > 0.05


def test_classification_and_table_values():
    assert ph.phase(0.3, 0.1) == "excluded" and ph.phase(0.2, 0.3) == "excluded"
    assert all(np.isnan(ph.exponents(0.3, 0.1)))
    assert ph.phase(0.3, -0.1) == "excluded" and ph.phase(0.9, -0.1) == "Ia"  # beta < 0 allowed
    for name, (a, b) in INTERIOR.items():
        assert ph.phase(a, b) == name
    # the alpha = 0.7 sweep of plrf.md §5
    for beta, (xi, eta) in [(0.3, (0.417, 0.417)), (0.4, (0.417, 0.5)), (0.6, (0.462, 0.615)),
                            (0.7, (0.5, 0.643)), (1.0, (0.5, 0.643))]:
        assert ph.exponents(0.7, beta) == pytest.approx((xi, eta), abs=5e-4)
    A, Bt = np.meshgrid(np.linspace(0.01, 1.5, 37), np.linspace(-0.3, 1.5, 41))
    vec = ph.phases(A, Bt)
    assert vec.shape == A.shape
    assert all(vec[i, j] == ph.phase(A[i, j], Bt[i, j]) for i in range(A.shape[0]) for j in range(A.shape[1]))
    assert set(vec.ravel()) == set(ph.PHASES)


def test_provenance_flags():
    assert {n for n in ph.PHASES if ph.is_derived(n)} == {"Ic", "IVa", "IVb"}
    assert ph.is_proven(0.4, 0.3) and not ph.is_proven(0.2, 0.4)  # Ib below alpha = 1/4 is only believed
    assert not ph.is_proven(0.4, 1.0)
    with pytest.raises(SpecError):
        ph.is_derived("V")


def test_boundaries_separate_the_labelled_phases():
    lines = ph.boundaries((0.0, 1.5), (0.0, 1.5))
    names = [n for n, _, _ in lines]
    assert set(names) == {"2(alpha+beta)=1", "2alpha=1", "2beta=1", "alpha=beta", "alpha=1/4", "alpha=1-1/sqrt2",
                          "alpha=1/4 (Ib proof)"}
    for name, x, y in lines:
        assert x.shape == y.shape and x.size >= 2
        assert np.all((x >= 0) & (x <= 1.5) & (y >= 0) & (y <= 1.5))
        # every true boundary changes the phase (or the exponent formula) across it
        if name == "alpha=1/4 (Ib proof)":
            continue
        mx, my = 0.5 * (x[0] + x[-1]), 0.5 * (y[0] + y[-1])
        tx, ty = x[-1] - x[0], y[-1] - y[0]
        nx, ny = -ty / np.hypot(tx, ty), tx / np.hypot(tx, ty)
        assert ph.phase(mx - 1e-6 * nx, my - 1e-6 * ny) != ph.phase(mx + 1e-6 * nx, my + 1e-6 * ny), name
    # clipping: a box with no alpha < 1/2 has neither the excluded edge nor the IV split
    small = {n for n, _, _ in ph.boundaries((0.6, 1.5), (0.0, 1.5))}
    assert small == {"2beta=1", "alpha=beta"}
    for name, a, b, proven in ph.labels():
        assert ph.phase(a, b) == name
        assert proven == ph.PROVEN[name]
