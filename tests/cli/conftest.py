"""Small cubes for the command-line tests, written in-process (no Prefect, no Ray): one per
module, many invocations against each."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_spec

#: 2 x 2 cells, 3 N, 10 checkpoints up to 1000: every command has something to read; the compute
#: frontier of these short curves is not measurable (its window holds no interior point)
MAIN_GRID = 'alpha = [0.8, 1.0]\nbeta = [0.3, 0.6]\nN = [16, 32, 64]\nP = ["inf"]\nt = {geomspace = [1, 1000], num = 10}'
#: one cell, 2 N, 3 checkpoints: below every analysis prerequisite
TINY_GRID = 'alpha = [1.0]\nbeta = [0.4]\nN = [16, 32]\nP = ["inf"]\nt = [1, 10, 100]'


def build_cube(directory: Path, grid: str, *, methods=("theory", "simulation"), seeds: int = 2, params: str = "",
               model: str = "plrf") -> tuple[object, Path]:
    """Create and fill a cube block by block in this process; returns (spec, store)."""
    import storage
    from scalinglab.compute import compute_block
    from scalinglab.spec import load_spec

    store = directory / "cube.zarr"
    spec = load_spec(write_spec(directory / "spec.toml", store=store, model=model, methods=methods, seeds=seeds,
                                grid=grid, params=params))
    storage.create_cube(spec, str(store))
    for block in spec.blocks():
        storage.write_block(str(store), block, compute_block(spec, block))
    return spec, store


@pytest.fixture(scope="module")
def main_cube(tmp_path_factory) -> Path:
    _, store = build_cube(tmp_path_factory.mktemp("main"), MAIN_GRID)
    return store


@pytest.fixture(scope="module")
def tiny_cube(tmp_path_factory) -> Path:
    _, store = build_cube(tmp_path_factory.mktemp("tiny"), TINY_GRID, methods=("theory",), seeds=1)
    return store
