"""A model from outside the repository plugs in through the ``scalinglab.models`` entry point (issue 12).

The tiny package ``tests/plugins/scalinglab_toy`` (a closed-form law) is installed into a temporary
directory (wheel layout: package + dist-info with its entry points; the venv is not modified), found
by the registry, checked against the
``Model`` protocol, and run through a real sweep and ``analyze`` with the CLI (its own Prefect API,
local Ray workers) -- touching no file under scalinglab/, storage/, tasks/ or flows/.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_spec
from tests.flows.helpers import cli_env, run_cli

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "scalinglab_toy"


def install(package: Path, target: Path) -> None:
    """Install a pure-Python project into ``target`` the way pip lays out a wheel: the import package and a
    ``<name>-<version>.dist-info`` with METADATA and entry_points.txt (read from its pyproject.toml).
    (The test venv has no `wheel`, so ``pip install --no-build-isolation`` cannot build one offline.)"""
    import shutil
    import tomllib

    meta = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    for pkg in [p for p in package.iterdir() if (p / "__init__.py").exists()]:
        shutil.copytree(pkg, target / pkg.name, ignore=shutil.ignore_patterns("__pycache__"))
    dist = target / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    lines = []
    for group, eps in meta.get("entry-points", {}).items():
        lines += [f"[{group}]"] + [f"{k} = {v}" for k, v in eps.items()] + [""]
    (dist / "entry_points.txt").write_text("\n".join(lines))
    (dist / "INSTALLER").write_text("tests\n")


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory):
    """Install the toy package into a temporary target; put it on sys.path for this module only."""
    target = tmp_path_factory.mktemp("toy_site")
    install(PACKAGE, target)
    sys.path.insert(0, str(target))
    from scalinglab import models

    models._loaded.pop("toy", None)
    yield target
    sys.path.remove(str(target))
    for name in ("toy", "toy_broken"):
        models._loaded.pop(name, None)
    for mod in [m for m in sys.modules if m.startswith("scalinglab_toy")]:
        del sys.modules[mod]


def test_registry_finds_and_checks_the_plugin(toy_site):
    from scalinglab.models import ModelConformanceError, get_model, model_names

    assert {"plrf", "bap", "lin", "toy", "toy_broken"} <= set(model_names())
    toy = get_model("toy")
    assert toy.name == "toy" and toy.tier(toy.Params()) == "closed_form"
    with pytest.raises(ModelConformanceError, match=r"toy_broken.*missing attribute `Params`.*missing method `theory\(\)`"):
        get_model("toy_broken")


def test_sweep_and_analyze_a_plugin_model(toy_site, tmp_path, api_url):
    store = tmp_path / "toy.zarr"
    spec = write_spec(tmp_path / "toy.toml", store=store, model="toy", seeds=4,
                      grid='alpha = [0.75, 1.0]\nbeta = [0.5]\nN = {geomspace = [16, 256], num = 5}\nP = ["inf"]\n'
                           't = {geomspace = [1, 100000], num = 21}', params="noise = 0.02")
    env = cli_env(api_url, PYTHONPATH=os.pathsep.join([str(toy_site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    res = run_cli("run", str(spec), "--json", env=env, timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    res = run_cli("analyze", str(store), "--out-dir", str(tmp_path / "figs"), "--json", env=env, timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    import xarray as xr

    ds = xr.open_zarr(str(store))
    assert int((ds.status == 1).sum()) == ds.status.size
    assert ds.theory_loss.attrs["source"] == "closed_form" and ds.sim_loss.attrs["source"] == "noisy"
    # the simulation's seed mean is the closed form (log-normal noise with mean 1): 4 seeds, sigma 0.02
    rel = ds.sim_loss.mean("seed") / ds.theory_loss - 1
    assert float(abs(rel).max()) < 4 * 0.02 / np.sqrt(4) * 1.5
    import storage

    an = storage.open_analysis(str(store))
    r_t = an["theory_r_t"].values if "theory_r_t" in an else None
    assert r_t is not None, list(an.data_vars)
    # the fitted time exponent is the law's (2 alpha + 2 beta - 1)/(2 alpha)
    expect = (2 * an.alpha.values[:, None] + 2 * an.beta.values[None, :] - 1) / (2 * an.alpha.values[:, None])
    assert np.allclose(r_t[..., 0], expect, rtol=0.05), (r_t[..., 0], expect)
