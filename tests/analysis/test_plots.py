"""Every figure function writes a non-empty PNG from small synthetic data, with labelled axes."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from scalinglab.analysis.fit import ScalingSurface, grid_points  # noqa: E402
from scalinglab.errors import SpecError  # noqa: E402
from scalinglab.plots import plot_curves, plot_frontier, plot_phase_map, plot_residuals, plot_surface  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N = 2.0 ** np.arange(4, 10)
T = np.unique(np.geomspace(1, 1e5, 30).astype(int)).astype(float)


def _data(K: int = 4):
    theory = 0.01 + T[None, :] ** -0.6 + 2.0 * N[:, None] ** -0.9
    rng = np.random.default_rng(0)
    sim = theory[:, None, :] * np.exp(0.03 * rng.standard_normal((len(N), K, len(T))))
    return theory, sim


def _check_png(path, fig):
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            assert ax.get_ylabel() or ax.get_xlabel()
        else:
            assert ax.get_xlabel() or ax.get_ylabel()


def test_plot_curves(tmp_path):
    theory, sim = _data()
    path = tmp_path / "curves.png"
    fig = plot_curves(T, N, sim, theory, alpha=0.7, beta=0.4, P=np.inf, model="plrf", path=str(path))
    _check_png(path, fig)
    assert "α = 0.7" in fig.axes[0].get_title() and "P = ∞" in fig.axes[0].get_title()
    _check_png(path, plot_curves(T, N, theory=theory, path=str(path)))  # theory only
    legend = lambda f: " ".join(t.get_text() for t in f.axes[0].get_legend().get_texts())  # noqa: E731
    assert "seeds" in legend(fig) and "runs each" not in legend(fig)
    assert f"{sim.shape[1]} seeds × 4 runs each" in legend(plot_curves(T, N, sim, theory, replicas=4))
    with pytest.raises(SpecError, match="sim/theory"):
        plot_curves(T, N)


def test_plot_frontier(tmp_path):
    theory, sim = _data()
    path = tmp_path / "frontier.png"
    fig = plot_frontier(N, T, sim, 1.0, title="synthetic", path=str(path))
    _check_png(path, fig)
    legend = " ".join(t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts())
    assert "ξ =" in legend and "η =" in legend


def test_plot_surface(tmp_path):
    theory, sim = _data()
    X, y = grid_points([N, T], sim, seed_axis=1)
    s = ScalingSurface(("N", "t")).fit(X, y)
    path = tmp_path / "surface.png"
    _check_png(path, plot_surface(T, N, sim, s, title="fit", path=str(path)))


def test_plot_residuals(tmp_path):
    theory, sim = _data(K=8)
    path = tmp_path / "residuals.png"
    fig = plot_residuals(T, N, theory, sim, t_min=10, title="theory vs sim", path=str(path))
    _check_png(path, fig)
    assert any("z = (theory − sim) / SE" in ax.get_ylabel() for ax in fig.axes)
    # the distribution of z beside the map, against the Student-t of the seed count
    hist = fig.axes[1]
    assert hist.get_xlabel() == "z" and any("Student-t, 7 dof" in t.get_text() for t in hist.get_legend().get_texts())
    assert "seed SE of the simulation alone" in fig._suptitle.get_text()
    # a paired theory (one value per seed) says so
    paired = plot_residuals(T, N, sim * 1.01, sim, t_min=10)
    assert "paired difference" in paired._suptitle.get_text()


def test_plot_phase_map(tmp_path):
    a = np.linspace(0.1, 1.5, 12)
    b = np.linspace(0.1, 1.5, 10)
    A, B = np.meshgrid(a, b, indexing="ij")
    xi = np.where(2 * (A + B) > 1, B / (A + B), np.nan)
    path = tmp_path / "phase.png"
    fig = plot_phase_map(
        a, b, xi,
        boundaries=[([0.0, 0.5], [0.5, 0.0]), ([0.5, 1.5], [0.5, 1.5])],
        labels=[("II", 1.2, 0.8, True), ("IVb", 0.3, 1.2, False)],
        unproven=[([0.1, 0.5, 0.5, 0.1], [0.5, 0.5, 1.5, 1.5])],
        quantity="ξ", title="measured ξ", path=str(path),
    )
    _check_png(path, fig)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "II" in texts and "IVb?" in texts
    with pytest.raises(SpecError, match="measured.shape"):
        plot_phase_map(a, b, xi.T)
