"""A cube laid out by older code (a paired-tier theory stored without ``seed``, before issue 10.2)
is refused by ``resume`` in one line, even with ``--force``: this code cannot write into it."""
from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

import storage
from flows.cli import app
from storage.cube import layout_difference
from tests.conftest import write_spec


def _old_layout(store) -> None:
    """Rewrite theory_loss as code before paired theory wrote it: (alpha, beta, N, P, t)."""
    import zarr

    g = zarr.open_group(str(store), mode="r+")
    old = g["theory_loss"]
    shape = old.shape[:4] + old.shape[5:]
    del g["theory_loss"]
    g.create_array("theory_loss", shape=shape, chunks=shape, dtype="float64", fill_value=np.nan,
                   dimension_names=("alpha", "beta", "N", "P", "t"))
    zarr.consolidate_metadata(str(store))


def test_old_layout_is_refused_in_one_line(tmp_path):
    from scalinglab.spec import load_spec

    store = tmp_path / "cube.zarr"
    spec = load_spec(write_spec(tmp_path / "spec.toml", store=store, seeds=2,
                                grid='alpha = [1.0]\nbeta = [0.4]\nN = [16]\nP = ["inf"]\nt = [1, 10]'))
    storage.create_cube(spec, str(store))
    assert layout_difference(spec, str(store)) == []
    _old_layout(store)
    diff = layout_difference(spec, str(store))
    assert len(diff) == 1 and diff[0].startswith("theory_loss: dims (alpha, beta, N, P, t)")
    result = CliRunner().invoke(app, ["resume", str(store), "--force"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "layout" in lines[0] and "new store path" in lines[0], result.stderr
