"""``scalinglab report``: the page built from a real cube (PLRF, deterministic-equivalent theory and
eigenbasis simulation, swept and analysed through the flows), opened in headless Chromium: every
image loads and the tables are there. Plus the pure pieces of ``scalinglab.report``."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

import storage
from flows.cli import app
from scalinglab import report as rp
from tests.conftest import write_spec

GRID = ('alpha = [0.7, 1.0]\nbeta = [0.35, 0.8]\nN = [16, 32, 64, 128]\nP = ["inf"]\n'
        't = {geomspace = [1, 20000], num = 30}')


@pytest.fixture(scope="module")
def page(tmp_path_factory, prefect_api, ray_local):
    """A 2 x 2 PLRF cube (theory + 2-seed simulation) through sweep and analyze, and its report."""
    from flows.analyze import run_analysis
    from flows.sweep import run_sweep
    from scalinglab.analysis.cell import AnalysisSettings
    from scalinglab.spec import load_spec

    d = tmp_path_factory.mktemp("report")
    store = str(d / "cube.zarr")
    spec = load_spec(write_spec(d / "spec.toml", store=d / "cube.zarr", seeds=2, grid=GRID,
                                params='theory = "deterministic_equivalent"\nsimulation = "eigen"'))
    storage.create_cube(spec, store)
    assert run_sweep(store, [b.id for b in spec.blocks()])["failed"] == 0
    run_analysis(store, settings=AnalysisSettings(n_bootstrap_fit=5), figures=False)
    res = CliRunner().invoke(app, ["report", store, "--out", str(d / "rep"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["analysis"] is True and out["report"].endswith("index.html")
    return d / "rep" / "index.html"


def test_page_is_self_contained_with_tables(page):
    html = page.read_text()
    imgs = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(imgs) >= 6  # claims (2 scatter + 2 phase maps), curves, frontier, residuals
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in imgs)
    assert "src=\"http" not in html and "<link" not in html  # nothing fetched from elsewhere
    for title in ("Measured against predicted compute-optimal exponents, per phase",
                  "Theory and simulation, per cell", "Measured against closed-form exponents, every cell"):
        assert title in html
    assert "deterministic_equivalent" in html and "spec hash" in html and "Flagged or excluded" in html
    # the per-phase table has a row for each phase of the grid: (0.7|1.0, 0.35) Ia, (0.7|1.0, 0.8) II/III
    assert re.search(r"<td>Ia</td><td>2</td>", html) and re.search(r"<td>III</td><td>1</td>", html)


def test_page_renders_in_headless_chromium(page, tmp_path):
    """Chromium loads the page; a script marks the body once every <img> is complete with a natural
    width > 0 (a broken base64 image has naturalWidth 0: corrupting one byte run of one image fails)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (.ci/run installs it: apt-get install -y chromium)")
    marker = ("<script>window.addEventListener('load', () => { const im = [...document.images];"
              "document.body.dataset.images = im.length; document.body.dataset.loaded = "
              "im.filter(i => i.complete && i.naturalWidth > 0).length;"
              "document.body.dataset.tables = document.querySelectorAll('table tbody tr').length; });</script>")

    def dom(html: str) -> str:
        f = tmp_path / "page.html"
        f.write_text(html.replace("</body>", marker + "</body>"))
        res = subprocess.run([exe, "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=5000",
                              "--dump-dom", f.as_uri()], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stdout

    out = dom(page.read_text())
    n = int(re.search(r'data-images="(\d+)"', out).group(1))
    assert n >= 6 and f'data-loaded="{n}"' in out, re.findall(r"data-\w+=\"\d+\"", out)
    assert int(re.search(r'data-tables="(\d+)"', out).group(1)) >= 10
    # the check can fail: one corrupted image is seen as not loaded
    broken = re.sub(r"(base64,)iVBOR", r"\1AAAAA", page.read_text(), count=1)
    out = dom(broken)
    assert f'data-loaded="{n - 1}"' in out, re.findall(r"data-\w+=\"\d+\"", out)


def test_loglog_slope_and_window_spread():
    """An exact power law has its slope and no window spread; a bent one (a floor) spreads."""
    x = np.geomspace(10, 1e4, 12)
    s = rp.loglog_slope(x, 3 * x ** -0.7)
    assert abs(s.value + 0.7) < 1e-12 and s.spread < 1e-12
    s = rp.loglog_slope(x, 3 * x ** -0.7 + 1e-2)
    assert s.spread > 0.02 and s.lo <= s.value <= s.hi
    assert np.isnan(rp.loglog_slope([1, 2], [1, 2]).value)


def test_two_term_fit_recovers_exponents():
    M, n = np.geomspace(16, 1024, 7), np.geomspace(30, 5000, 8)
    y = 2 * M[:, None] ** -1.0 + 0.7 * n[None, :] ** -0.5
    two = rp.two_term_fit(M, n, y)
    assert abs(two.k1 - 1.0) < 1e-4 and abs(two.k2 - 0.5) < 1e-4


def test_closed_forms_match_the_notes():
    """Values printed in docs/theory: PLRF Fig. 2b row (α, β) = (0.7, 0.6): ξ 0.462, η 0.615; BAP (a, b) =
    (1.5, 1.25): ξ 0.444, η 0.222; BAP (3, 1.5): paper 2, ours 1.5; LIN a = 1.5: -0.5, -1/3."""
    c = rp.closed_forms("plrf", 0.7, 0.6)
    assert round(c["xi"][0], 3) == 0.462 and round(c["eta"][0], 3) == 0.615
    c = rp.closed_forms("bap", 0.625, 0.125)
    assert round(c["xi"][0], 3) == 0.444 and round(c["eta"][0], 3) == 0.222 and round(c["t_star"][0], 3) == 0.556
    c = rp.closed_forms("bap", 0.75, 0.75)
    assert c["r_N"][0] == 1.5 and c["r_N_paper"][0] == 2.0
    c = rp.closed_forms("lin", 0.75, 0.0)
    assert c["r_M"][0] == 0.5 and abs(c["r_Neff"][0] - 1 / 3) < 1e-12


def test_render_html_escapes_and_embeds():
    png = b"\x89PNG\r\n\x1a\nxx"
    html = rp.render_html("t <x>", sections=[rp.Section("s", "a & b", [rp.Table("tab", ["q", "verdict"],
                                                                                  [[0.5, "differs by 0.1"]])],
                                                        [rp.Figure("f", png, "cap")])],
                          flags=["one <flag>"], spec_text="{}", provenance={"k": "v"})
    assert "t &lt;x&gt;" in html and "a &amp; b" in html and "one &lt;flag&gt;" in html
    assert base64.b64encode(png).decode() in html and 'class="differs"' in html


def test_report_of_a_non_cube_is_one_line_exit_2(tmp_path):
    """A path that is not a cube: one stderr line naming STORE, exit status 2, nothing written."""
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nope.zarr"), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "STORE" in res.stderr, res.stderr
    assert not (tmp_path / "rep").exists()
