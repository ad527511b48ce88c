"""Compute one block of a sweep: the science half of a task (pure, no I/O).

The returned arrays have the block's shape along (alpha, beta, N, P), then ``seed`` for
simulation variables and a paired theory (issue 10.2), then ``t`` — exactly the chunk layout of the cube. Everything model-specific
goes through the :class:`scalinglab.models.Model` protocol; every random stream comes from
:meth:`SweepSpec.streams` (content-derived, issue 10.1), so a unit's numbers do not depend on the
block it is computed in.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from scalinglab.models.base import Point, Streams
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


def _subset(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smallest rectangle (N indices, seed indices) covering a cell's ``(n_N, n_seed)`` mask."""
    mask = mask.reshape(mask.shape[0], -1)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask[rows].any(axis=0)) if rows.size else rows
    return rows, cols


def _sub_streams(streams: Streams, rows: np.ndarray, cols: np.ndarray) -> Streams:
    """The streams of a subset of a cell's N values and seeds, in the model's local indices."""

    def stream(role: str, iN: int, seed: int = 0) -> np.random.Generator:
        return streams(role, int(rows[iN]), int(cols[seed]) if cols.size else seed)

    return stream


def compute_block(spec: SweepSpec, block: Block, need: Mapping[str, np.ndarray] | None = None) -> BlockResult:
    """Theory and/or simulation for every cell of ``block`` (or the units ``need`` asks for).

    Parameters
    ----------
    need : {"theory": bool array, "simulation": bool array}, optional
        Shape ``block.shape`` + ``(n_seed,)`` for a seeded kind (simulation, paired theory), else
        ``block.shape`` (or with a trailing axis of 1): compute only those units and seeds, and
        leave the rest NaN (reuse across sweeps, issue 10.6, copies them). A cell computes the
        smallest rectangle of (N values x seeds) covering what it needs, with the same streams:
        a unit's numbers are a function of its content, so a subset gives the same bits as the
        whole. A kind missing from ``need`` is not computed; ``need=None`` computes everything.
        ``wall_time`` is NaN for cells that computed nothing.

    Raises
    ------
    DivergedError
        When a loss is non-finite or explodes (the block is then recorded as failed).
    """
    model = spec.model_module()
    variables = spec.variables()
    na, nb, nN, nP = block.shape
    nt, ns = spec.t.size, spec.seeds
    paired = spec.theory_paired
    seeded = {kind: spec.seeded(kind) for kind in variables}
    arrays: dict[str, np.ndarray] = {}
    for kind, names in variables.items():
        for name in names:
            arrays[name] = np.full((na, nb, nN, nP, *((ns,) if seeded[kind] else ()), nt), np.nan)
    if "theory" in variables:
        arrays["theory_flag"] = np.zeros((na, nb, nN, nP, nt), np.int8)
    wall = np.zeros((na, nb, nN, nP)) if need is None else np.full((na, nb, nN, nP), np.nan)
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
        cell = (ia - a0, ib - b0, slice(None), ip - p0)
        full_pt, full_streams = spec.point(ia, ib, ip), spec.streams(ia, ib, ip)
        computed = False
        for kind in variables:
            if need is None:
                rows, cols = np.arange(nN), np.arange(ns if seeded[kind] else 1)
            elif kind in need:
                rows, cols = _subset(np.asarray(need[kind], bool)[cell])
            else:
                continue
            if not rows.size:
                continue
            computed = True
            whole = rows.size == nN and cols.size == (ns if seeded[kind] else 1)
            pt = full_pt if whole else Point(full_pt.alpha, full_pt.beta, full_pt.P, full_pt.N[rows], full_pt.t,
                                             full_pt.params)
            streams = full_streams if whole else _sub_streams(full_streams, rows, cols)
            if kind == "theory" and paired:  # seed s's theory for seed s's draws (issue 10.2)
                curves = model.paired_theory(pt, streams, cols.size, tier=model.tier(spec.params))
            elif kind == "theory":
                curves = model.theory(pt, streams, tier=model.tier(spec.params))
            else:
                curves = model.simulate(pt, streams, cols.size, method=model.method(spec.params))
            sources[kind] = curves.source
            if kind == "theory":
                for flag in curves.flags.values():  # a flagged draw flags the unit's checkpoint
                    flag = np.asarray(flag, bool).reshape(rows.size, -1, nt).any(axis=1)
                    arrays["theory_flag"][ia - a0, ib - b0, rows, ip - p0] |= flag
            prefix = "theory_" if kind == "theory" else "sim_"
            for key, vals in curves.values.items():
                name = prefix + key
                if key == "loss":
                    if kind == "simulation" and fault == "nan":
                        vals = vals * np.where(pt.t >= pt.t.max() // 2, np.nan, 1.0)
                    if kind == "simulation" or not curves.flags.get("loss", np.zeros(1, bool)).any():
                        _check_finite(name, vals, where)
                if seeded[kind]:
                    arrays[name][ia - a0, ib - b0, rows[:, None], ip - p0, cols[None, :]] = vals
                else:
                    arrays[name][ia - a0, ib - b0, rows, ip - p0] = vals
        if computed:
            wall[cell] = time.perf_counter() - start
    return BlockResult(arrays=arrays, wall_time=wall, sources=sources)
