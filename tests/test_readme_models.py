"""README honesty (issue 10.10): every theory tier and simulation method named in README's model
table can be selected from a spec's ``[params]`` (``theory = "..."``, ``simulation = "..."``) and
resolves to itself; every tier and method a model offers is in the table.

Fails when the table names something a spec cannot select (e.g. BAP ``limit``/``gd`` or LIN
``de``/``ambient`` before issue 10) or misses a tier a model has.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _table() -> dict[str, tuple[list[str], list[str]]]:
    """model -> (tiers, methods): the first backquoted word of each comma-separated entry."""
    rows = {}
    for line in README.read_text().splitlines():
        m = re.match(r"\|\s*`(\w+)`\s*\|[^|]*\|([^|]*)\|([^|]*)\|\s*$", line)
        if m and m.group(1) != "model":  # not the header
            def names(cell: str) -> list[str]:
                return [re.findall(r"`([\w-]+)`", part)[0] for part in re.split(r",\s*(?=`)", cell.strip())
                        if re.findall(r"`([\w-]+)`", part)]
            rows[m.group(1)] = (names(m.group(2)), names(m.group(3)))
    return rows


TABLE = _table()


def test_the_table_lists_every_built_in_model():
    assert {"plrf", "bap", "lin"} <= set(TABLE), TABLE


@pytest.mark.parametrize("model", sorted(TABLE))
def test_every_named_tier_and_method_is_selectable_from_a_spec(model):
    from scalinglab.models import get_model

    mod = get_model(model)
    tiers, methods = TABLE[model]
    assert tiers and methods
    for tier in tiers:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # the table names canonical tiers
            params = mod.Params(theory=tier)
        assert mod.tier(params) == tier
    for method in methods:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            params = mod.Params(simulation=method)
        assert mod.method(params) == method
    assert set(tiers) == set(mod.theory_tiers) and set(methods) == set(mod.sim_methods)
