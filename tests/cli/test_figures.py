"""Figures a reader can read (issue 14): a few N values get a discrete legend and ticks at the
grid's values, not a continuous colorbar ticked at 10^k; phase maps name the approach and keep
every phase label inside the axes; titles name the model as the spec does."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from scalinglab import plots  # noqa: E402

N = np.array([64.0, 128.0, 256.0, 512.0])
T = np.unique(np.geomspace(1, 1e5, 30).astype(int)).astype(float)
THEORY = 0.01 + T[None, :] ** -0.6 + 2.0 * N[:, None] ** -0.9
SIM = THEORY[:, None, :] * np.exp(0.03 * np.random.default_rng(0).standard_normal((len(N), 3, len(T))))


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for leg in [ax.get_legend(), *[a for a in ax.artists]] if leg is not None
            and hasattr(leg, "get_texts") for t in leg.get_texts()]


def test_curves_legend_names_each_N_and_no_colorbar():
    fig = plots.plot_curves(T, N, sim=SIM, theory=THEORY, alpha=1.0, beta=0.6, P=float("inf"), model="plrf")
    assert [ax for ax in fig.axes if ax.get_label() == "<colorbar>"] == []
    assert {"N = 64", "N = 128", "N = 256", "N = 512"} <= set(_texts(fig))
    assert fig.axes[0].get_title().startswith("plrf: α = 1, β = 0.6")  # the spec's model name, as every title


def test_frontier_N_star_axis_ticks_at_grid_values():
    fig = plots.plot_frontier(N, T, THEORY, 1.0)
    bx = fig.axes[1]
    assert list(bx.get_yticks()) == list(N)
    assert [t.get_text() for t in bx.get_yticklabels()] == ["64", "128", "256", "512"]


def test_frontier_not_measurable_draws_the_curves_and_says_why():
    fig = plots.plot_frontier(N[:2], T, THEORY[:2], 1.0, title="plrf: α = 1")
    assert "compute frontier not measurable" in fig._suptitle.get_text()


def test_residual_bands_labelled_at_grid_N():
    fig = plots.plot_residuals(T, N, THEORY, SIM)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["64", "128", "256", "512"]


def test_many_N_get_a_colorbar_ticked_at_grid_values():
    many = 2.0 ** np.arange(4, 16)
    th = 0.01 + T[None, :] ** -0.6 + 2.0 * many[:, None] ** -0.9
    fig = plots.plot_curves(T, many, theory=th)
    (cb,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert set(cb.get_yticks()) <= set(many)


@pytest.mark.parametrize("quantity,approach", [("xi", "approach 1"), ("eta3", "approach 3")])
def test_phase_map_names_the_approach_and_keeps_labels_inside(quantity, approach):
    a, b = np.array([0.6, 0.8, 1.0]), np.array([0.3, 0.6, 0.9])
    fig = plots.plot_phase_map(a, b, np.full((3, 3), 0.5), labels=[("III", 1.0, 1.05, True), ("Ia", 0.5, 0.15, True)],
                               quantity=quantity, title="measured (theory)")
    ax, cb = fig.axes[0], fig.axes[1]
    assert approach in cb.get_ylabel()
    if approach == "approach 3":
        assert "approach 3" in ax.get_title()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for text in ax.texts:
        x, y = text.get_position()
        assert x0 < x < x1 and y0 < y < y1, (text.get_text(), x, y)
