r"""A closed-form toy scaling law, plugged into scalinglab through the ``scalinglab.models`` entry point.

.. math::

    L(N, t) = a\,N^{-2\alpha} + (1 + t)^{-(2\alpha + 2\beta - 1)/(2\alpha)},

the model-size and time terms of the family (``docs/theory/CONVENTIONS.md``) with unit amplitudes
and no interaction. The theory tier ``closed_form`` is the formula; the simulation ``noisy``
multiplies it by :math:`\exp(\sigma z - \sigma^2/2)`, one standard normal z per (N, seed, t)
from the seed's stream, so its mean over seeds is the theory. It touches no file of scalinglab:
everything goes through :class:`scalinglab.models.ModelBase` (the ``Model`` protocol).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from scalinglab.errors import DomainError
from scalinglab.models import Curves, ModelBase

__all__ = ["MODEL", "BROKEN", "Params", "Toy"]


class Params(BaseModel):
    """The toy's ``[params]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amplitude: float = Field(1.0, gt=0, description="a > 0, the amplitude of the model-size term a N^(-2 alpha)")
    noise: float = Field(0.05, ge=0, le=1, description="sigma in [0, 1], the log-normal noise of the simulation")
    theory: Literal["closed_form"] = Field("closed_form", description="theory tier: closed_form (the formula)")
    simulation: Literal["noisy"] = Field("noisy", description="simulation method: noisy (formula x log-normal noise)")


def _law(alpha: float, beta: float, N: np.ndarray, t: np.ndarray, a: float) -> np.ndarray:
    """L(N, t), shape (n_N, n_t)."""
    r_t = (2 * alpha + 2 * beta - 1) / (2 * alpha)
    return a * N[:, None] ** (-2 * alpha) + (1.0 + t[None, :]) ** (-r_t)


class Toy(ModelBase):
    """The toy model object."""

    name = "toy"
    Params = Params
    theory_tiers = {"closed_form": "the closed-form law a N^(-2 alpha) + (1 + t)^(-(2 alpha + 2 beta - 1)/(2 alpha))"}
    sim_methods = {"noisy": "the law times exp(sigma z - sigma^2/2), z ~ N(0, 1) per (N, seed, t)"}

    def check_domain(self, alpha, beta, N, P, t, params) -> None:
        if not alpha > 0:
            raise DomainError("toy", "alpha", alpha, "alpha > 0")
        if not 2 * (alpha + beta) > 1:
            raise DomainError("toy", "(alpha, beta)", (alpha, beta), "2(alpha+beta) > 1")
        if not np.all(np.isfinite(np.atleast_1d(N))):
            raise DomainError("toy", "N", N, "finite N")

    def theory(self, point, streams, *, tier=None) -> Curves:
        p = point.params
        return Curves({"loss": _law(point.alpha, point.beta, point.N, point.t.astype(float), p.amplitude)},
                      source="closed_form")

    def simulate(self, point, streams, n_seeds, *, method=None) -> Curves:
        p = point.params
        law = _law(point.alpha, point.beta, point.N, point.t.astype(float), p.amplitude)
        out = np.empty((point.N.size, n_seeds, point.t.size))
        for i in range(point.N.size):
            for s in range(n_seeds):
                z = streams("simulation", i, s).standard_normal(point.t.size)
                out[i, s] = law[i] * np.exp(p.noise * z - 0.5 * p.noise**2)
        return Curves({"loss": out}, source="noisy")

    def cost(self, point, kind) -> float:
        return 1e-4 * point.N.size


MODEL = Toy()


class _Broken:
    """Registered as ``toy_broken`` to show what the registry says about a non-conforming plug-in."""

    name = "toy_broken"


BROKEN = _Broken()
