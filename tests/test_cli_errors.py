"""Every bad-input class: exit status 2, one line naming the field and the allowed range, nothing written."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import write_spec

GOOD_GRID = 'alpha = [1.0]\nbeta = [0.4]\nN = [16, 32]\nP = ["inf"]\nt = {geomspace = [1, 1000], num = 10}'

CASES = {
    "unknown top-level key": dict(extra='colour = "red"', expect="colour"),
    "unknown grid key": dict(grid=GOOD_GRID + "\ngamma = [1]", expect="gamma"),
    "unknown param": dict(params="v_ratoi = 4", expect="v_ratoi"),
    "wrong type seeds": dict(extra="", seeds='"four"', expect="seeds"),
    "wrong type param": dict(params='batch = "one"', expect="batch"),
    "empty axis": dict(grid=GOOD_GRID.replace("N = [16, 32]", "N = []"), expect="N"),
    "non-positive N": dict(grid=GOOD_GRID.replace("N = [16, 32]", "N = [0, 32]"), expect="N"),
    "negative t": dict(grid=GOOD_GRID.replace("t = {geomspace = [1, 1000], num = 10}", "t = [-5, 10]"), expect="t"),
    "non-positive geomspace": dict(grid=GOOD_GRID.replace("geomspace = [1, 1000]", "geomspace = [0, 1000]"), expect="t"),
    "excluded 2(a+b)<=1": dict(grid=GOOD_GRID.replace("beta = [0.4]", "beta = [-0.6]"), expect="2(alpha+beta) > 1"),
    "unstable lr": dict(params="lr_scale = 1.5", expect="lr_scale"),
    "unknown model": dict(model="resnet", expect="model"),
    "unknown method": dict(methods=("theory", "bootstrap"), expect="methods"),
    "finite P for one-pass PLRF": dict(grid=GOOD_GRID.replace('P = ["inf"]', "P = [100]"), expect="P"),
    "bad string on axis": dict(grid=GOOD_GRID.replace("alpha = [1.0]", 'alpha = ["big"]'), expect="alpha"),
    # writing a spec without guessing (issue 14): the typo named with the nearest valid key
    "typo alpah": dict(grid=GOOD_GRID.replace("alpha = [1.0]", "alpah = [1.0]"), expect=("alpah", "did you mean 'alpha'")),
    "typo modle": dict(extra='modle = "plrf"', expect=("modle", "did you mean 'model'")),
    "typo param": dict(params="lr_scael = 0.5", expect=("lr_scael", "did you mean 'lr_scale'", "scalinglab params")),
    "range n for num": dict(grid=GOOD_GRID.replace("N = [16, 32]", "N = {geomspace = [64, 512], n = 4}"),
                            expect=("'n' is not a range key", "did you mean 'num'")),
    "range without num": dict(grid=GOOD_GRID.replace("N = [16, 32]", "N = {geomspace = [64, 512]}"), expect=("N", "num")),
    "scalar axis": dict(grid=GOOD_GRID.replace("alpha = [1.0]", "alpha = 1.0"), expect=("alpha", "[x]")),
    "unknown bap param": dict(model="bap", params="lr = 0.4\nfoo = 1", grid=GOOD_GRID.replace('P = ["inf"]', "P = [100]"),
                              expect=("foo=1", "known: M, lr"), absent=("spec={", "extra inputs")),
    "non-integer N": dict(grid=GOOD_GRID.replace("N = [16, 32]", "N = [16.5, 32]"), expect=("N=16.5", "integers")),
    "non-integer t in a list": dict(grid=GOOD_GRID.replace("t = {geomspace = [1, 1000], num = 10}", "t = [1, 2.5, 10]"),
                                    expect=("t=2.5", "integers")),
    "duplicate alpha": dict(grid=GOOD_GRID.replace("alpha = [1.0]", "alpha = [0.8, 0.8]"), expect=("alpha", "0.8 appears twice")),
    "duplicate N": dict(grid=GOOD_GRID.replace("N = [16, 32]", "N = [16, 16, 32]"), expect=("N", "16 appears twice")),
    "string batch": dict(params='batch = "1"', expect=("batch='1'", "integer")),
    "bool on axis": dict(grid=GOOD_GRID.replace("alpha = [1.0]", "alpha = [true]"), expect=("alpha", "True")),
}


def _spec(tmp_path: Path, case: dict) -> tuple[Path, Path]:
    store = tmp_path / "cube.zarr"
    text_kwargs = {k: v for k, v in case.items() if k in ("grid", "params", "model", "methods", "extra")}
    spec = write_spec(tmp_path / "spec.toml", store=store, **text_kwargs)
    if "seeds" in case:
        spec.write_text(spec.read_text().replace("seeds = 2", f"seeds = {case['seeds']}"))
    return spec, store


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("command", ["run", "plan"])
def test_bad_spec_exits_2_with_one_line_and_writes_nothing(tmp_path, name, command):
    case = CASES[name]
    spec, store = _spec(tmp_path, case)
    result = CliRunner().invoke(app, [command, str(spec)])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    expects = case["expect"] if isinstance(case["expect"], tuple) else (case["expect"],)
    assert all(e in lines[0] for e in expects) and "expected" in lines[0], lines[0]
    assert not any(a in lines[0] for a in case.get("absent", ())), lines[0]
    assert not store.exists()


def test_missing_spec_file(tmp_path):
    result = CliRunner().invoke(app, ["run", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "SPEC" in result.stderr


def test_status_of_non_cube(tmp_path):
    result = CliRunner().invoke(app, ["status", str(tmp_path)])
    assert result.exit_code == 2 and "STORE" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_plan_prints_blocks_and_cost_without_writing(tmp_path):
    spec, store = _spec(tmp_path, {})
    result = CliRunner().invoke(app, ["plan", str(spec), "--json"])
    assert result.exit_code == 0, result.stderr
    import json

    info = json.loads(result.stdout)
    assert info["units"] == 2 and info["blocks"] >= 1 and info["estimated_core_seconds"] > 0
    assert not store.exists()
