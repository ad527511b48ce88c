"""Compute one block of a sweep: the science half of a task (pure, no I/O).

The returned arrays have the block's shape along (alpha, beta, N, P), then ``seed`` for
simulation variables, then ``t`` — exactly the chunk layout of the cube. Everything model-specific
goes through the :class:`scalinglab.models.Model` protocol; every random stream comes from
:meth:`SweepSpec.streams` (content-derived, issue 10.1), so a unit's numbers do not depend on the
block it is computed in.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from scalinglab.spec import Block, SweepSpec

__all__ = ["BlockResult", "compute_block", "DivergedError"]


class DivergedError(RuntimeError):
    """A run produced non-finite or exploding losses."""


@dataclass
class BlockResult:
    """Arrays for every cube variable of one block, and the seconds spent per cell."""

    arrays: dict[str, np.ndarray]
    wall_time: np.ndarray  # (na, nb, nN, nP): seconds of the cell that produced each unit
    sources: dict[str, str] = field(default_factory=dict)


def _check_finite(name: str, values: np.ndarray, where: str) -> None:
    bad = ~np.isfinite(values)
    if np.any(bad):
        raise DivergedError(f"{name} is not finite at {int(bad.sum())} of {values.size} values ({where}); "
                            "the run diverged: lower the learning rate")
    if np.any(values > 1e12):
        raise DivergedError(f"{name} exceeds 1e12 ({where}); the run diverged: lower the learning rate")


FAULT_ENV = "SCALINGLAB_INJECT_FAULT"


def _injected_fault(block_id: int) -> str | None:
    """Fault injection for reliability tests: ``SCALINGLAB_INJECT_FAULT="3,5:nan"`` makes blocks
    3 and 5 diverge (``nan``), raise (``raise``, the default), or start 30 s late (``sleep``,
    or ``sleep=SECONDS``: a slow block, numbers unchanged)."""
    import os

    text = os.environ.get(FAULT_ENV, "")
    if not text:
        return None
    ids, _, kind = text.partition(":")
    if str(block_id) in {x.strip() for x in ids.split(",")}:
        return kind or "raise"
    return None


def compute_block(spec: SweepSpec, block: Block) -> BlockResult:
    """Theory and/or simulation for every cell of ``block``.

    Raises
    ------
    DivergedError
        When a loss is non-finite or explodes (the block is then recorded as failed).
    """
    model = spec.model_module()
    variables = spec.variables()
    na, nb, nN, nP = block.shape
    nt, ns = spec.t.size, spec.seeds
    arrays: dict[str, np.ndarray] = {}
    for name in variables.get("theory", ()):
        arrays[name] = np.full((na, nb, nN, nP, nt), np.nan)
    for name in variables.get("simulation", ()):
        arrays[name] = np.full((na, nb, nN, nP, ns, nt), np.nan)
    if "theory" in variables:
        arrays["theory_flag"] = np.zeros((na, nb, nN, nP, nt), np.int8)
    wall = np.zeros((na, nb, nN, nP))
    sources: dict[str, str] = {}
    a0, b0, _, p0 = (s.start for s in block.slices)
    fault = _injected_fault(block.id)
    if fault == "raise":
        raise RuntimeError(f"injected fault in block {block.id} ({FAULT_ENV})")
    if fault and fault.startswith("sleep"):
        time.sleep(float(fault.partition("=")[2] or 30.0))
    for ia, ib, ip in block.cells():
        where = f"alpha={spec.alpha[ia]:g}, beta={spec.beta[ib]:g}, P={spec.P[ip]:g}"
        start = time.perf_counter()
        pt = spec.point(ia, ib, ip)
        streams = spec.streams(ia, ib, ip)
        if "theory" in variables:
            curves = model.theory(pt, streams, tier=model.tier(spec.params))
            sources["theory"] = curves.source
            for flag in curves.flags.values():
                arrays["theory_flag"][ia - a0, ib - b0, :, ip - p0] |= np.asarray(flag, bool).reshape(nN, nt)
            for key, vals in curves.values.items():
                name = f"theory_{key}"
                if key == "loss" and not curves.flags.get("loss", np.zeros(1, bool)).any():
                    _check_finite(name, vals, where)
                arrays[name][ia - a0, ib - b0, :, ip - p0] = vals
        if "simulation" in variables:
            curves = model.simulate(pt, streams, ns, method=model.method(spec.params))
            sources["simulation"] = curves.source
            for key, vals in curves.values.items():
                name = f"sim_{key}"
                if key == "loss":
                    if fault == "nan":
                        vals = vals * np.where(pt.t >= pt.t.max() // 2, np.nan, 1.0)
                    _check_finite(name, vals, where)
                arrays[name][ia - a0, ib - b0, :, ip - p0] = vals
        wall[ia - a0, ib - b0, :, ip - p0] = time.perf_counter() - start
    return BlockResult(arrays=arrays, wall_time=wall, sources=sources)
