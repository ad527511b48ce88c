"""What a new user needs before writing a spec: `scalinglab models`, `scalinglab params MODEL`
(name, type, default, allowed range, meaning for every field of the model's Params), `--version`,
and `plan` printing every axis's values and warning about analysis prerequisites."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.cli.conftest import TINY_GRID
from tests.conftest import write_spec


def _models() -> list[str]:
    import scalinglab.models as registry

    return list(registry.model_names()) if hasattr(registry, "model_names") else sorted(registry.MODELS)


def test_models_lists_every_model():
    res = CliRunner().invoke(app, ["models", "--json"])
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["model"] for r in rows] == _models()
    assert all(r["summary"] and r["params"] for r in rows)


@pytest.mark.parametrize("model", ["plrf", "bap", "lin"])
def test_params_lists_every_field_with_default_range_and_meaning(model):
    from scalinglab.models import get_model

    res = CliRunner().invoke(app, ["params", model, "--json"])
    assert res.exit_code == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    fields = get_model(model).Params.model_fields
    assert set(rows) == set(fields)
    for name, f in fields.items():
        r = rows[name]
        assert r["meaning"] == (f.description or ""), name
        assert r["allowed"] and r["type"], name
    table = CliRunner().invoke(app, ["params", model])
    assert table.exit_code == 0 and "[params] of " + model in table.stdout
    assert all(name in table.stdout for name in fields)


def test_version():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.startswith("scalinglab ")


def test_plan_prints_every_axis_and_warns_about_analysis(tmp_path):
    spec = write_spec(tmp_path / "spec.toml", store=tmp_path / "cube.zarr", grid=TINY_GRID)
    res = CliRunner().invoke(app, ["plan", str(spec), "--json"])
    assert res.exit_code == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["axes"] == {"alpha": [1.0], "beta": [0.4], "N": [16, 32], "P": ["inf"], "t": [1, 10, 100]}
    assert any("needs >= 3" in w for w in info["analysis_warnings"])
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning:")]
    assert warnings and all("scalinglab analyze" in w for w in warnings)
    res = CliRunner().invoke(app, ["plan", str(spec)])
    assert "t (3 values)" in res.stdout and "1, 10, 100" in res.stdout and "16, 32" in res.stdout
    assert not (tmp_path / "cube.zarr").exists()


def test_plot_and_analyze_draw_the_same_default_cell():
    from types import SimpleNamespace

    from flows.analyze import _representative
    from scalinglab.plots import default_cell

    for sizes in ((1, 1, 1), (2, 2, 1), (3, 4, 2), (5, 2, 3)):
        ds = SimpleNamespace(sizes=dict(zip(("alpha", "beta", "P"), sizes)))
        assert default_cell(*sizes) == tuple(_representative(ds))


HEAVY = ("xarray", "pandas", "scipy", "prefect", "ray", "matplotlib")


def _heavy_imports(argv: list[str]) -> set[str]:
    """The heavy libraries a command imports (run in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys\nfrom flows.cli import app\ntry:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY:', *[m for m in {HEAVY!r} if m in sys.modules])")
    res = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    (line,) = [ln for ln in res.stdout.splitlines() if ln.startswith("HEAVY:")]
    return set(line.split()[1:])


def test_cold_start_imports_stay_light(main_cube, tmp_path):
    """--help and query import none of xarray, pandas, scipy, Prefect, Ray, matplotlib; plan and
    status none but what the model itself needs (cold start under a second, issue 14)."""
    assert _heavy_imports(["--help"]) == set()
    assert _heavy_imports(["query", str(main_cube), "--var", "theory_loss", "--sel", "t=10", "--format", "csv"]) == set()
    spec = write_spec(tmp_path / "spec.toml", store=tmp_path / "cube.zarr")
    assert _heavy_imports(["plan", str(spec)]) <= {"scipy"}
    assert _heavy_imports(["status", str(main_cube)]) <= {"scipy"}


def test_ray_token_notices_are_quiet():
    import logging

    from flows.server import quiet_defaults

    quiet_defaults()
    log = logging.getLogger("ray._private.authentication.authentication_token_setup")
    assert log.getEffectiveLevel() >= logging.ERROR
