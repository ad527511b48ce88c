"""A Ray worker node removed mid-sweep (ray.cluster_utils.Cluster.remove_node): the sweep
completes through retries, and the cube is bit-identical to an uninterrupted run."""
from __future__ import annotations

import threading

import storage
from tests.conftest import restore_local_ray, write_spec
from tests.flows.helpers import assert_cubes_identical, done_units, reference_cube, wait_for

GRID = 'alpha = [0.8, 1.0, 1.2]\nbeta = [0.3, 0.5, 0.7]\nN = [64, 128]\nP = ["inf"]\nt = {geomspace = [1, 20000], num = 12}'


def test_worker_node_removed_mid_sweep(tmp_path, prefect_api):
    import ray
    from ray.cluster_utils import Cluster

    with restore_local_ray():  # the shared local Ray, if running, is back for the tests after this one
        _remove_a_node_mid_sweep(tmp_path, ray, Cluster)


def _remove_a_node_mid_sweep(tmp_path, ray, Cluster) -> None:
    from flows.sweep import run_sweep
    from scalinglab.spec import load_spec

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "object_store_memory": 100 * 2**20})
    worker = cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        store = tmp_path / "cube.zarr"
        spec_path = write_spec(tmp_path / "spec.toml", store=store, seeds=2, grid=GRID)
        spec = load_spec(spec_path)
        storage.create_cube(spec, str(store))
        removed = threading.Event()

        def kill_worker_node():
            if wait_for(lambda: done_units(store) >= 2 * spec.N.size, timeout=120, step=0.05):
                cluster.remove_node(worker)
                removed.set()

        killer = threading.Thread(target=kill_worker_node, daemon=True)
        killer.start()
        result = run_sweep(str(store), [b.id for b in spec.blocks()], ray_address=cluster.address)
        killer.join(timeout=5)
        assert removed.is_set()
        assert result["failed"] == 0 and result["done"] == len(spec.blocks()), result
        assert len([n for n in ray.nodes() if n["Alive"]]) == 1
        runs = storage.read_runs(str(store))
        assert len({r["node"] for r in runs}) == 2  # the lost node had started work
        ref = tmp_path / "ref.zarr"
        reference_cube(spec_path, ref)
        assert_cubes_identical(store, ref)
    finally:
        ray.shutdown()
        cluster.shutdown()
