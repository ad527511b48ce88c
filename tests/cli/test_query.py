"""`scalinglab query`: dimensions first in spec order, then variables; integers as integers,
floats to 5 significant digits in tables (full precision in CSV/JSON); P as a number or "inf"
in every format; `--json`; repeated --sel as a list; a block reset by `status --verify` reported
as not done (one line), never a decompression traceback."""
from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
from typer.testing import CliRunner

import storage
from flows.cli import app
from tests.cli.conftest import build_cube


def _run(*argv):
    return CliRunner().invoke(app, [str(a) for a in argv])


def test_table_order_and_number_format(main_cube):
    # the exact theory is paired with the seeds: it carries the seed dimension, status does not
    res = _run("query", main_cube, "--var", "theory_loss", "--var", "status", "--sel", "N=16", "--sel", "t=1000",
               "--sel", "seed=1")
    assert res.exit_code == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if "│" in ln or "┃" in ln]
    header = [c.strip() for c in re.split("[┃│]", lines[0]) if c.strip()]
    assert header == ["alpha", "beta", "N", "P", "seed", "t", "theory_loss", "status"]
    rows = [[c.strip() for c in re.split("│", ln) if c.strip()] for ln in lines[1:]]
    assert len(rows) == 4
    for alpha, beta, N, P, seed, t, loss, status in rows:
        assert alpha in ("0.8", "1.0") and beta in ("0.3", "0.6")
        assert (N, P, seed, t, status) == ("16", "inf", "1", "1000", "1")
        digits = len(re.sub(r"[^0-9]", "", loss.split("e")[0]).lstrip("0"))
        assert 4 <= digits <= 6, loss


def test_json_and_csv_keep_full_precision_and_one_P_convention(main_cube):
    res = _run("query", main_cube, "--var", "sim_loss", "--sel", "alpha=1.0", "--sel", "beta=0.3", "--sel", "t=10", "--json")
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)
    assert list(rows[0]) == ["alpha", "beta", "N", "P", "seed", "t", "sim_loss"]
    assert len(rows) == 3 * 2 and all(r["P"] == "inf" and isinstance(r["N"], int) and isinstance(r["t"], int) for r in rows)
    assert all(isinstance(r["alpha"], float) and r["alpha"] == 1.0 for r in rows)
    same = _run("query", main_cube, "--var", "sim_loss", "--sel", "alpha=1.0", "--sel", "beta=0.3", "--sel", "t=10",
                "--format", "json")
    assert json.loads(same.stdout) == rows
    res = _run("query", main_cube, "--var", "sim_loss", "--sel", "alpha=1.0", "--sel", "beta=0.3", "--sel", "t=10",
               "--format", "csv")
    table = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["P"] for r in table] == ["inf"] * 6 and table[0]["N"] == "16"
    assert [float(r["sim_loss"]) for r in table] == [r["sim_loss"] for r in rows]  # bit for bit


def test_repeated_sel_is_a_list(main_cube):
    res = _run("query", main_cube, "--var", "theory_loss", "--sel", "alpha=1.0", "--sel", "alpha=0.8",
               "--sel", "N=64", "--sel", "t=1", "--json")
    assert sorted({r["alpha"] for r in json.loads(res.stdout)}) == [0.8, 1.0]


def test_block_reset_by_verify_is_reported_pending(tmp_path):
    spec, store = build_cube(tmp_path, 'alpha = [1.0]\nbeta = [0.3, 0.6]\nN = [16, 32]\nP = ["inf"]\nt = [1, 10, 100]')
    b1 = spec.blocks()[1]
    seed_t = "0/0" if spec.theory_paired else "0"  # a paired theory's chunk key has the seed index too
    chunk = store / "theory_loss" / "c" / "/".join(map(str, b1.index)) / seed_t
    chunk.write_bytes(np.random.default_rng(0).bytes(chunk.stat().st_size))
    res = _run("status", store, "--verify")
    assert res.exit_code == 0 and f"block {b1.id} reset to pending" in res.stderr, res.stderr
    # the reset block alone: not done, one line, exit 1
    res = _run("query", store, "--var", "theory_loss", "--sel", "beta=0.6")
    assert res.exit_code == 1 and "Traceback" not in res.stdout + res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert "not done" in line and "scalinglab resume" in line, line
    # the whole cube: the done block shown, the reset one empty and noted
    res = _run("query", store, "--var", "theory_loss", "--json")
    assert res.exit_code == 0, res.stderr
    (note,) = res.stderr.strip().splitlines()
    assert note.startswith("note: 2 of 4 selected units are not done"), note
    rows = json.loads(res.stdout)
    assert all((r["theory_loss"] is None) == (r["beta"] == 0.6) for r in rows)
    assert int((storage.open_cube(str(store)).status.values == storage.DONE).sum()) == 2
    # the analysis commands never decode it either: not done, said in one line
    for argv in (["fit", store, "--sel", "beta=0.6"], ["frontier", store, "--sel", "beta=0.6"],
                 ["plot", store, "--kind", "curves", "--out", tmp_path / "c.png", "--sel", "beta=0.6"]):
        res = _run(*argv)
        assert res.exit_code == 1 and "Traceback" not in res.stdout + res.stderr, (argv, res.stderr)
        assert "not done" in res.stderr and len([ln for ln in res.stderr.splitlines() if ln.startswith("error:")]) == 1
    assert not (tmp_path / "c.png").exists()
