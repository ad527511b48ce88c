"""Unit identity by content (issue 10.1): a unit's numbers depend on what determines them only.

The same units computed in two sweeps that differ in the grid around them, the seed count, the
order of ``methods`` and the block shape are bit-identical, for every model, theory and simulation
(``compute_block`` directly, no Ray). The checkpoints are the same in both sweeps: the exact PLRF
tiers advance on a time grid that lands on every checkpoint (``Model.depends_on_checkpoints``).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from scalinglab.compute import compute_block
from scalinglab.models import get_model, model_names
from scalinglab.spec import parse_spec

T = {"geomspace": [1, 300], "num": 7}
CASES = {
    # model: (params, grid A, grid B); the N grids differ, so do alpha/beta (B has extra values)
    "plrf": ({"lr_scale": 0.3}, dict(alpha=[1.0], beta=[0.4], N=[8, 16]),
             dict(alpha=[0.8, 1.0], beta=[0.4, 0.7], N=[8, 12, 16])),
    "bap": ({"M": 256, "lr": 0.2}, dict(alpha=[0.75], beta=[0.5], N=[8, 16], P=[32]),
            dict(alpha=[0.75, 1.0], beta=[0.25, 0.5], N=[8, 16, 24], P=[32, 48])),
    "lin": ({"d": 1024, "lr": 0.1}, dict(alpha=[1.0], beta=[0.0], N=[8, 12]),
            dict(alpha=[0.75, 1.0], beta=[0.0, 0.25], N=[4, 8, 12])),
}


def _spec(model, params, grid, seeds, methods, chunks, seed=0):
    g = {"P": ["inf"], "t": T, **grid}
    data = {"model": model, "methods": methods, "seeds": seeds, "grid": g, "params": params,
            "store": {"path": "unused.zarr"}}
    if seed:
        data["seed"] = seed
    spec = parse_spec(data, chunks=None)
    return parse_spec(data, chunks=chunks(spec))


def _run(spec):
    """All blocks of a spec, assembled into full arrays keyed by variable."""
    out = {}
    for block in spec.blocks():
        res = compute_block(spec, block)
        for name, arr in res.arrays.items():
            if name not in out:
                shape = spec.grid_shape + arr.shape[4:]
                out[name] = np.full(shape, np.nan) if arr.dtype.kind == "f" else np.zeros(shape, arr.dtype)
            out[name][tuple(block.slices)] = arr
    return out


def _common(a, b):
    """Index pairs (in a, in b) of the units both specs hold."""
    pairs = []
    for ia, ib, iN, ip in itertools.product(*(range(n) for n in a.grid_shape)):
        key = (a.alpha[ia], a.beta[ib], a.N[iN], a.P[ip])
        try:
            jb = (int(np.flatnonzero(b.alpha == key[0])[0]), int(np.flatnonzero(b.beta == key[1])[0]),
                  int(np.flatnonzero(b.N == key[2])[0]), int(np.flatnonzero(b.P == key[3])[0]))
        except IndexError:
            continue
        pairs.append(((ia, ib, iN, ip), jb))
    return pairs


@pytest.mark.parametrize("model", sorted(CASES))
def test_same_units_bit_identical_across_sweeps(model: str) -> None:
    params, grid_a, grid_b = CASES[model]
    a = _spec(model, params, grid_a, 2, ["theory", "simulation"], lambda s: (1, 1, s.N.size, 1))
    b = _spec(model, params, grid_b, 3, ["simulation", "theory"], lambda s: (2, 2, s.N.size, s.P.size))
    assert a.hash != b.hash and a.chunks[:2] != b.chunks[:2]
    ra, rb = _run(a), _run(b)
    pairs = _common(a, b)
    assert len(pairs) >= 2
    checked = 0
    for name in ra:
        if name.endswith("_flag"):
            continue
        for ia, jb in pairs:
            x, y = ra[name][ia], rb[name][jb]
            if name.startswith("sim_") or (name.startswith("theory_") and a.theory_paired):
                y = y[: a.seeds]  # seeds 0..1 of both sweeps (a paired theory has one value per seed's draw)
            assert np.array_equal(x, y, equal_nan=True), (model, name, ia, jb, np.nanmax(np.abs(x - y)))
            checked += 1
    assert checked >= 2 * len(pairs)
    for kind in ("theory", "simulation"):
        ka, kb = a.unit_keys(kind), b.unit_keys(kind)
        for ia, jb in pairs:
            assert ka[ia] == kb[jb]


@pytest.mark.parametrize("model", sorted(CASES))
def test_root_seed_and_content_change_the_numbers(model: str) -> None:
    """Negative controls: the comparison above is not vacuous. A different root ``seed`` re-draws the
    simulation (and the keys change); a different N is a different unit."""
    params, grid_a, _ = CASES[model]
    chunks = lambda s: (1, 1, s.N.size, 1)  # noqa: E731
    a = _spec(model, params, grid_a, 2, ["simulation"], chunks)
    c = _spec(model, params, grid_a, 2, ["simulation"], chunks, seed=7)
    ra, rc = _run(a), _run(c)
    assert not np.array_equal(ra["sim_loss"], rc["sim_loss"])
    assert c.hash != a.hash and np.all(a.unit_keys("simulation") != c.unit_keys("simulation"))
    keys = a.unit_keys("simulation")
    assert keys[0, 0, 0, 0] != keys[0, 0, 1, 0]
    # a seed stream depends on the seed index only, not on how many seeds there are
    s = a.streams(0, 0, 0)
    assert s("simulation", 0, 1).standard_normal() != s("simulation", 0, 0).standard_normal()
    assert s("simulation", 0, 0).standard_normal() != s("theory", 0, 0).standard_normal()


def test_unit_params_leave_out_the_other_method() -> None:
    """The simulation's numbers (and keys) do not depend on the theory tier, nor the theory's on the
    simulation method; every registered model declares what its numbers depend on."""
    base = {"model": "plrf", "methods": ["theory", "simulation"], "seeds": 1,
            "grid": {"alpha": [1.0], "beta": [0.4], "N": [8], "t": [1, 10]}, "store": {"path": "x.zarr"}}
    s1 = parse_spec({**base, "params": {"theory": "exact_given_draw"}})
    s2 = parse_spec({**base, "params": {"theory": "deterministic_equivalent"}})
    assert np.array_equal(s1.unit_keys("simulation"), s2.unit_keys("simulation"))
    assert not np.array_equal(s1.unit_keys("theory"), s2.unit_keys("theory"))
    for name in model_names():
        m = get_model(name)
        p = m.Params()
        for kind in ("theory", "simulation"):
            assert isinstance(m.unit_params(p, kind), dict)
            assert isinstance(m.depends_on_checkpoints(p, kind), bool)


def test_the_comparison_has_teeth_against_the_old_index_streams() -> None:
    """Streams derived the old way (spec hash + grid indices) give the same unit different numbers in the
    two sweeps of the test above: the bit-identity check would fail on them."""
    params, grid_a, grid_b = CASES["plrf"]
    a = _spec("plrf", params, grid_a, 2, ["theory", "simulation"], lambda s: (1, 1, s.N.size, 1))
    b = _spec("plrf", params, grid_b, 3, ["simulation", "theory"], lambda s: (2, 2, s.N.size, s.P.size))
    (ia, jb), = [p for p in _common(a, b) if p[0][2] == 0][:1]

    def old_streams(spec, ia_, ib_, ip_):
        def stream(role, iN, seed=0):
            kind = 1 if role == "theory" else 0
            return np.random.default_rng(np.random.SeedSequence(entropy=int(spec.hash[:32], 16),
                                                                spawn_key=(kind, ia_, ib_, iN, ip_, seed)))
        return stream

    m = a.model_module()
    xa = m.simulate(a.point(ia[0], ia[1], ia[3]), old_streams(a, ia[0], ia[1], ia[3]), 2).values["loss"][ia[2]]
    xb = m.simulate(b.point(jb[0], jb[1], jb[3]), old_streams(b, jb[0], jb[1], jb[3]), 2).values["loss"][jb[2]]
    assert not np.array_equal(xa, xb)
    na = m.simulate(a.point(ia[0], ia[1], ia[3]), a.streams(ia[0], ia[1], ia[3]), 2).values["loss"][ia[2]]
    nb = m.simulate(b.point(jb[0], jb[1], jb[3]), b.streams(jb[0], jb[1], jb[3]), 2).values["loss"][jb[2]]
    assert np.array_equal(na, nb)
