"""``scalinglab report`` on a cube whose theory is paired with the seeds (issue 10.2: PLRF
``exact_given_draw`` stored with a ``seed`` dimension): the cell figures draw the mean over the
seeds' own draws and the paired residuals (this crashed before the report knew the seed axis)."""
from __future__ import annotations

import re

from typer.testing import CliRunner

from flows.cli import app
from tests.cli.conftest import build_cube

GRID = 'alpha = [1.0]\nbeta = [0.6]\nN = [16, 32, 64]\nP = ["inf"]\nt = {geomspace = [1, 1000], num = 12}'


def test_report_of_a_paired_cube(tmp_path):
    spec, store = build_cube(tmp_path, GRID, seeds=3)
    assert spec.theory_paired
    res = CliRunner().invoke(app, ["report", str(store), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "the mean over the 3 seeds&#x27; own draws" in html or "the mean over the 3 seeds' own draws" in html
    assert "Theory against simulation" in html and "paired difference" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 3  # curves, frontier, residuals
