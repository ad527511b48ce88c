"""Dependencies point one way: flows → tasks → storage → scalinglab (DESIGN.md)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "scalinglab": {"prefect", "prefect_ray", "ray", "zarr", "xarray", "fsspec", "storage", "tasks", "flows"},
    "storage": {"prefect", "prefect_ray", "ray", "tasks", "flows"},
    "tasks": {"flows"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    bad = {}
    for f in (REPO / package).rglob("*.py"):
        hit = _imports(f) & FORBIDDEN[package]
        if hit:
            bad[str(f.relative_to(REPO))] = sorted(hit)
    assert not bad, bad


def test_science_layer_imports_alone():
    """`import scalinglab` (and every model) in a fresh interpreter loads no orchestration or storage code."""
    import subprocess
    import sys

    code = ("import sys, scalinglab, scalinglab.spec, scalinglab.compute\n"
            "from scalinglab.models import MODELS, get_model\n"
            "[get_model(m) for m in MODELS]\n"
            "bad = [m for m in ('prefect', 'ray', 'zarr', 'xarray', 'storage', 'tasks', 'flows') if m in sys.modules]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _loaded_after(code: str) -> list[str]:
    """The heavy packages in sys.modules after running ``code`` in a fresh interpreter."""
    import subprocess
    import sys

    probe = (f"{code}\nimport sys\n"
             "print(sorted(m for m in ('scipy', 'xarray', 'pandas', 'zarr', 'matplotlib', 'ray', 'prefect')"
             " if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return eval(res.stdout.strip().splitlines()[-1])


def test_parsing_a_spec_imports_no_scipy():
    """Cold start (issue 14): a spec of each built-in model parses without scipy (imported where it is used)."""
    specs = ["examples/quickstart.toml", "examples/bap_compute.toml"]
    code = "from scalinglab.spec import load_spec\n" + "".join(f"load_spec({s!r})\n" for s in specs)
    assert _loaded_after(code) == []


def test_cli_help_and_plan_import_no_heavy_package():
    """`--help` and `plan` load typer, pydantic and numpy only: no scipy, storage or orchestration packages."""
    code = ("from typer.testing import CliRunner\nfrom flows.cli import app\n"
            "for args in (['--help'], ['plan', 'examples/quickstart.toml']):\n"
            "    r = CliRunner().invoke(app, args)\n"
            "    assert r.exit_code == 0, (args, r.output)")
    assert _loaded_after(code) == []
