"""A sweep on a real 2-node local Ray cluster (ray.cluster_utils.Cluster) fills the same cube,
bit for bit, as a run without Ray; both nodes do work."""
from __future__ import annotations

import pytest

import storage
from tests.conftest import restore_local_ray, write_spec
from tests.flows.helpers import assert_cubes_identical, reference_cube

GRID = 'alpha = [0.8, 1.0]\nbeta = [0.3, 0.5, 0.7]\nN = [32, 64]\nP = ["inf"]\nt = {geomspace = [1, 20000], num = 12}'


@pytest.fixture
def two_node_cluster():
    import ray
    from ray.cluster_utils import Cluster

    with restore_local_ray():  # the shared local Ray, if running, is back for the tests after this one
        if ray.is_initialized():
            ray.shutdown()
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                                "object_store_memory": 100 * 2**20})
        cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster
        ray.shutdown()
        cluster.shutdown()


def test_sweep_on_two_nodes_fills_the_same_cube(tmp_path, prefect_api, two_node_cluster):
    import ray

    from flows.sweep import run_sweep
    from scalinglab.spec import load_spec

    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    store = tmp_path / "cube.zarr"
    spec_path = write_spec(tmp_path / "spec.toml", store=store, seeds=2, grid=GRID)
    spec = load_spec(spec_path)
    storage.create_cube(spec, str(store))
    result = run_sweep(str(store), [b.id for b in spec.blocks()], ray_address=two_node_cluster.address)
    assert result["done"] == len(spec.blocks()) and result["failed"] == 0
    nodes = {r["node"] for r in storage.read_runs(str(store))}
    assert len(nodes) == 2, nodes  # both nodes computed blocks
    ref = tmp_path / "ref.zarr"
    reference_cube(spec_path, ref)
    assert_cubes_identical(store, ref)
