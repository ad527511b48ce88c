"""`scalinglab analyze` reports every cell it cannot measure (with the reason) and analyses the
others; its figures are drawn even where a frontier is not measurable; `phase-map` exits 1 when
no cell has the exponent. The Ray fan-out is replaced by the same per-cell analysis in-process
(tests/flows/test_analyze.py runs the real flow)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app


@pytest.fixture(scope="module")
def analysed(main_cube, tmp_path_factory):
    import flows.analyze
    import storage
    from scalinglab.analysis.cell import AnalysisSettings, analyze_cell
    from storage.analysis import read_cell, write_analysis

    def in_process(store, *, ray_address=None, out_dir=None, settings=None, figures=True):
        spec, ds = storage.read_spec(store), storage.open_cube(store)
        settings = settings or AnalysisSettings()
        results = {}
        for ia in range(spec.alpha.size):
            for ib in range(spec.beta.size):
                c = read_cell(ds, ia, ib, 0)
                results[(ia, ib, 0)] = analyze_cell(c["N"], c["t"], theory=c["theory"], sim=c["sim"], settings=settings)
        write_analysis(store, spec, results, settings.to_dict())
        paths = flows.analyze.render_figures(store, out_dir) if figures else []
        return {"store": store, "cells": len(results), "cells_analyzed": len(results), "data_surfaces": 0,
                "errors": [], "seconds": 0.0, "figures": paths}

    mp = pytest.MonkeyPatch()
    mp.setattr(flows.analyze, "run_analysis", in_process)
    out = tmp_path_factory.mktemp("figs")
    res = CliRunner().invoke(app, ["analyze", str(main_cube), "--out-dir", str(out), "--n-bootstrap", "0", "--json"])
    mp.undo()
    return res, out


def test_analyze_names_unmeasurable_cells_and_analyses_the_rest(analysed):
    res, out = analysed
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    notes = [ln for ln in res.stderr.splitlines() if ln.startswith("note: cell ")]
    # the compute frontier of these short curves is measurable in some cells, not in others
    assert notes and all("compute frontier (approach 1) not measurable: ComputeFrontier" in n for n in notes), res.stderr
    info = json.loads(res.stdout)
    assert len(info["cells"]) == 8 and all(c["xi3"] is not None for c in info["cells"])
    missing = {f"cell alpha={c['alpha']:.1f}, beta={c['beta']:.1f}, P=inf ({c['method']})" for c in info["cells"]
               if c["xi"] is None}
    assert 0 < len(missing) < 8
    assert {n.removeprefix("note: ").split(":")[0] for n in notes} == missing
    assert info["not_measurable"] == [n.removeprefix("note: ") for n in notes]
    names = {p.rsplit("/", 1)[-1] for p in info["figures"]}
    assert {"curves.png", "frontier.png", "residuals.png"} <= names
    assert all((out / n).stat().st_size > 10_000 for n in names)


def test_phase_map_without_a_measured_exponent_exits_1(analysed, main_cube, tmp_path):
    import shutil

    import storage
    from scalinglab.analysis.cell import AnalysisSettings
    from storage.analysis import write_analysis

    res = CliRunner().invoke(app, ["phase-map", str(main_cube), "--out", str(tmp_path / "xi3.png"), "--quantity", "xi3"])
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "xi3.png").stat().st_size > 10_000
    # an analysis in which no cell could be measured
    copy = tmp_path / "copy.zarr"
    shutil.copytree(main_cube, copy)
    write_analysis(str(copy), storage.read_spec(str(copy)), {}, AnalysisSettings().to_dict())
    res = CliRunner().invoke(app, ["phase-map", str(copy), "--out", str(tmp_path / "xi.png")])
    assert res.exit_code == 1 and "no cell has xi measured (theory)" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "xi.png").exists()


def test_unexpected_error_is_one_line(main_cube, monkeypatch):
    import storage

    def boom(*a, **k):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(storage, "read_spec", boom)
    res = CliRunner().invoke(app, ["fit", str(main_cube)])
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip() == ("error: RuntimeError: disk on fire second line "
                                  "(SCALINGLAB_DEBUG=1 shows the traceback)")
