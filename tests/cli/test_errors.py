"""Bad invocations of every command: a non-zero exit status, one line on stderr that names what
was wrong (and the allowed values), never a traceback, never a table of NaN with exit 0.

Table-driven: each case is (argv with STORE/OUT placeholders, exit status, words the line must
hold). Run in-process through typer's CliRunner (the same click command the console script
runs); `test_real_command_line` runs a few through the installed entry point.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from flows.cli import app

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]

# (argv, exit status, words of the one stderr line)
CASES = {
    # usage errors: one line, not click's box
    "num-cpus 0": (["run", "SPEC", "--num-cpus", "0"], 2, ["--num-cpus", "greater than or equal to 1", "--help"]),
    "interval 0": (["serve", "--interval", "0"], 2, ["--interval"]),
    "unknown option": (["plan", "SPEC", "--foo"], 2, ["No such option: --foo"]),
    "unknown command": (["frobnicate"], 2, ["No such command"]),
    "missing argument": (["query"], 2, ["Missing argument 'STORE'"]),
    # query: --sel on a dimension the variables do not have, a missing coordinate, bad values
    "query sel seed on theory flag": (["query", "STORE", "--sel", "seed=0", "--var", "theory_flag"], 2,
                                 ["--sel", "seed=0", "alpha, beta, N, P, t"]),
    "query sel t on status": (["query", "STORE", "--var", "status", "--sel", "t=100000"], 2,
                              ["--sel", "t=100000", "alpha, beta, N, P"]),
    "query missing coordinate": (["query", "STORE", "--sel", "t=100000", "--var", "theory_loss"], 2,
                                 ["t=100000", "one of t = 1, 2, 5"]),
    "query not a number": (["query", "STORE", "--sel", "alpha=big"], 2, ["alpha=big", "a number or inf"]),
    "query no equals": (["query", "STORE", "--sel", "alpha"], 2, ["DIM=VALUE"]),
    "query unknown var": (["query", "STORE", "--var", "loss"], 2, ["--var", "sim_loss", "theory_loss"]),
    "query unknown format": (["query", "STORE", "--format", "xml"], 2, ["--format", "table, csv, json"]),
    "query json with csv": (["query", "STORE", "--json", "--format", "csv"], 2, ["--json"]),
    # unknown choices list the allowed values
    "frontier method sim": (["frontier", "STORE", "--method", "sim"], 2, ["--method", "theory, simulation"]),
    "frontier method SIM": (["frontier", "STORE", "--method", "SIM"], 2, ["--method", "theory, simulation"]),
    "fit method foo": (["fit", "STORE", "--method", "foo"], 2, ["--method", "theory, simulation"]),
    "plot method foo": (["plot", "STORE", "--kind", "curves", "--out", "OUT", "--method", "foo"], 2,
                        ["--method", "theory, simulation"]),
    "plot kind foo": (["plot", "STORE", "--kind", "foo", "--out", "OUT"], 2, ["--kind", "curves, frontier, surface, residuals"]),
    "phase-map quantity": (["phase-map", "STORE", "--out", "OUT", "--quantity", "zeta"], 2, ["--quantity", "xi, eta, xi3, eta3"]),
    "phase-map method": (["phase-map", "STORE", "--out", "OUT", "--method", "both"], 2, ["--method", "theory, simulation"]),
    "params unknown model": (["params", "resnet"], 2, ["MODEL", "bap, lin, plrf"]),
    # options a command does not use are refused
    "fit sel N": (["fit", "STORE", "--sel", "N=64"], 2, ["--sel", "N=64", "alpha, beta, P"]),
    "frontier sel t": (["frontier", "STORE", "--sel", "t=10"], 2, ["--sel", "t=10", "alpha, beta, P"]),
    "plot two alphas": (["plot", "STORE", "--kind", "curves", "--out", "OUT", "--sel", "alpha=0.8", "--sel", "alpha=1.0"], 2,
                        ["one value per dimension"]),
    "plot sel N": (["plot", "STORE", "--kind", "curves", "--out", "OUT", "--sel", "N=16"], 2, ["alpha, beta, P"]),
    # stores that are not cubes
    "status of a non-cube": (["status", "NOCUBE"], 2, ["STORE", "a scalinglab cube"]),
    "query of a non-cube": (["query", "NOCUBE"], 2, ["STORE", "a scalinglab cube"]),
    "phase-map without analysis": (["phase-map", "STORE", "--out", "OUT"], 2, ["analysis group", "scalinglab analyze"]),
}

# Not measurable: said per cell, exit 1 when nothing could be measured (the tiny cube)
TINY_CASES = {
    "frontier on 2 N": (["frontier", "TINY"], 1, ["nothing could be measured"]),
    "fit on 3 checkpoints": (["fit", "TINY"], 1, ["nothing could be measured"]),
    "analyze below prerequisites": (["analyze", "TINY"], 2, ["compute frontier needs >= 3", "scaling surface needs"]),
    "plot frontier on 2 N": (["plot", "TINY", "--kind", "frontier", "--out", "OUT"], 1, ["compute frontier not measurable"]),
    "plot surface too few points": (["plot", "TINY", "--kind", "surface", "--out", "OUT"], 1, ["scaling surface not measurable"]),
    "residuals without simulation": (["plot", "TINY", "--kind", "residuals", "--out", "OUT"], 2, ["both theory and simulation"]),
    "phase-map on one cell": (["phase-map", "TINY", "--out", "OUT"], 2, ["at least 2 alpha and 2 beta"]),
    "frontier method absent": (["frontier", "TINY", "--method", "simulation"], 2, ["a method present in the cube: theory"]),
}


def _argv(argv, main_cube, tiny_cube, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text("")  # never read: the usage error comes first
    subst = {"STORE": str(main_cube), "TINY": str(tiny_cube), "OUT": str(tmp_path / "fig.png"), "SPEC": str(spec),
             "NOCUBE": str(tmp_path)}
    return [subst.get(a, a) for a in argv]


def _check(result, code, words):
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert result.exit_code == code, (result.exit_code, out)
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for w in words:
        assert w in errors[0] or w in result.stderr, (w, result.stderr)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_invocation_is_one_line(name, main_cube, tiny_cube, tmp_path):
    argv, code, words = CASES[name]
    result = CliRunner().invoke(app, _argv(argv, main_cube, tiny_cube, tmp_path))
    _check(result, code, words)
    assert not (tmp_path / "fig.png").exists()


@pytest.mark.parametrize("name", sorted(TINY_CASES))
def test_not_measurable_is_said_and_exits_1_when_nothing_is(name, main_cube, tiny_cube, tmp_path):
    argv, code, words = TINY_CASES[name]
    result = CliRunner().invoke(app, _argv(argv, main_cube, tiny_cube, tmp_path))
    _check(result, code, words)
    assert "nan" not in result.stdout.lower()
    assert not (tmp_path / "fig.png").exists()


def test_partly_measurable_names_each_cell_and_shows_the_rest(main_cube):
    """The main cube's short simulation curves: approach 1 is not measurable at beta = 0.6 (named, with
    the reason), measurable at beta = 0.3 (shown); approach 3 is shown for both; exit 0 because
    something was measured."""
    result = CliRunner().invoke(app, ["frontier", str(main_cube), "--sel", "alpha=1.0", "--method", "simulation"])
    assert result.exit_code == 0, result.stderr
    notes = [ln for ln in result.stderr.splitlines() if ln.startswith("note: cell alpha=1.0")]
    assert len(notes) == 1 and "beta=0.6" in notes[0] and "approach 1 (xi, eta) not measurable" in notes[0], \
        result.stderr
    assert "nan" not in result.stdout and "n/a" in result.stdout and "xi3" in result.stdout
    import json

    result = CliRunner().invoke(app, ["frontier", str(main_cube), "--sel", "alpha=1.0", "--sel", "beta=0.6",
                                      "--method", "simulation", "--json"])
    (row,) = json.loads(result.stdout)
    assert row["xi"] is None and "frontier" in row["why"] and row["xi3"] > 0


def test_repeated_sel_selects_every_value(main_cube):
    import json

    result = CliRunner().invoke(app, ["fit", str(main_cube), "--sel", "alpha=0.8", "--sel", "alpha=1.0", "--sel",
                                      "beta=0.6", "--n-bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.stderr
    assert [(r["alpha"], r["beta"]) for r in json.loads(result.stdout)] == [(0.8, 0.6), (1.0, 0.6)]


def test_real_command_line(main_cube):
    """Through the real command line (a fresh interpreter): usage errors, a bad selection and
    --version, one line each."""
    exe = [sys.executable, "-m", "flows.cli"]
    for argv, code, word in ((["run", "x.toml", "--num-cpus", "0"], 2, "--num-cpus"),
                             (["plan", "x.toml", "--nope"], 2, "No such option"),
                             (["query", str(main_cube), "--sel", "seed=0", "--var", "theory_flag"], 2, "seed=0"),
                             (["--version"], 0, "scalinglab 0.1.0")):
        res = subprocess.run([*exe, *argv], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert res.returncode == code and "Traceback" not in res.stderr, res.stderr
        text = res.stderr if code else res.stdout
        assert len(text.strip().splitlines()) == 1 and word in text, text
