"""Property-based fuzzing of specs (hypothesis, >= 200 cases): every invalid spec gives exit
status 2 and one line on stderr, never a traceback, never a write."""
from __future__ import annotations

import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows.cli import app

VALID = {
    "model": "plrf", "methods": ["theory", "simulation"], "seeds": 2,
    "grid": {"alpha": [1.0], "beta": [0.4], "N": [16, 32], "P": ["inf"], "t": {"geomspace": [1, 1000], "num": 10}},
    "params": {"lr_scale": 0.5},
}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + "}"
    raise TypeError(type(v))


def to_toml(spec: dict, store: Path) -> str:
    lines = [f'"{k}" = {_toml_value(v)}' for k, v in spec.items() if not isinstance(v, dict)]
    for table, body in spec.items():
        if isinstance(body, dict):
            lines.append(f'["{table}"]')
            lines += [f'"{k}" = {_toml_value(v)}' for k, v in body.items()]
    lines += ["[store]", f'path = "{store}"']
    return "\n".join(lines) + "\n"


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8),
                    st.floats(allow_nan=True, allow_infinity=True))
junk = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3)),
                    max_leaves=8)

# Each mutation makes the spec invalid by construction.
MUTATIONS = st.one_of(
    st.tuples(st.just("top"), st.just("seeds"),
              st.one_of(st.integers(max_value=0), st.integers(min_value=100_001), st.text(max_size=5), st.booleans(),
                        st.floats().filter(lambda x: not float(x).is_integer()), st.lists(st.integers(), max_size=2))),
    st.tuples(st.just("top"), st.just("methods"),
              junk.filter(lambda v: not (isinstance(v, list) and v and all(m in ("theory", "simulation") for m in v)))),
    st.tuples(st.just("model"), st.just("model"), st.text(min_size=1, max_size=10).filter(lambda s: s not in ("plrf", "bap", "lin"))),
    st.tuples(st.just("extra"), st.text(min_size=1, max_size=8).filter(lambda s: s not in VALID and s != "schedule"), junk),
    st.tuples(st.just("grid"), st.sampled_from(["alpha", "N", "P", "t"]),  # beta <= 0 can be valid (2(a+b) > 1)
              st.one_of(st.just([]), st.lists(st.floats(max_value=0.0, allow_nan=False), min_size=1, max_size=3),
                        st.lists(st.text(min_size=1, max_size=5).filter(lambda s: s.lower() not in ("inf", "+inf", "infinity")),
                                 min_size=1, max_size=3),
                        st.dictionaries(st.sampled_from(["geomspace", "linspace", "num", "logspace"]), junk, max_size=3))),
    st.tuples(st.just("param"), st.just("lr_scale"), st.one_of(st.floats(max_value=0.0), st.floats(min_value=2.0),
                                                               st.text(max_size=4), st.lists(st.integers(), max_size=2))),
    st.tuples(st.just("param"), st.just("v_ratio"), st.one_of(st.floats(max_value=1.0), st.text(max_size=4))),
    st.tuples(st.just("param"), st.sampled_from(["batch", "draws"]),
              st.one_of(st.integers(max_value=0), st.just(1.5), st.text(max_size=4))),
    st.tuples(st.just("param"), st.just("theory"), st.text(max_size=6).filter(lambda s: s not in ("exact", "de", "asymptotic"))),
    st.tuples(st.just("param"), st.text(min_size=1, max_size=8).filter(
        lambda s: s not in ("lr_scale", "v_ratio", "batch", "draws", "theory", "simulation")), junk),
    st.tuples(st.just("domain"), st.just("beta"), st.floats(-5.0, -0.51)),  # 2(alpha+beta) <= 1 with alpha = 1
    st.tuples(st.just("drop"), st.sampled_from(["model", "methods", "grid"]), st.none()),
)


def _apply(mutation) -> dict:
    kind, key, value = mutation
    spec = {k: (dict(v) if isinstance(v, dict) else v) for k, v in VALID.items()}
    spec["grid"] = dict(VALID["grid"])
    spec["params"] = dict(VALID["params"])
    if kind in ("top", "model"):
        spec[key] = value
    elif kind == "extra":
        spec[key] = value
    elif kind == "grid":
        spec["grid"][key] = value
    elif kind == "param":
        spec["params"][key] = value
    elif kind == "domain":
        spec["grid"]["beta"] = [value]
    elif kind == "drop":
        del spec[key]
    return spec


@settings(max_examples=220, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(mutation=MUTATIONS)
def test_invalid_specs_exit_2_with_one_line_and_no_write(tmp_path_factory, mutation):
    d = tmp_path_factory.mktemp("fz")
    store = d / "cube.zarr"
    spec = _apply(mutation)
    try:
        text = to_toml(spec, store)
    except TypeError:
        return
    path = d / "spec.toml"
    path.write_text(text)
    res = CliRunner().invoke(app, ["run", str(path)])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 2, (mutation, res.exit_code, res.stdout, res.stderr, repr(res.exception))
    assert len(lines) == 1 and lines[0].startswith("error: "), (mutation, res.stderr)
    assert "Traceback" not in res.stdout + res.stderr
    assert not store.exists(), mutation


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_arbitrary_text_is_refused_cleanly(tmp_path_factory, text):
    d = tmp_path_factory.mktemp("fzt")
    path = d / "spec.toml"
    path.write_text(text)
    res = CliRunner().invoke(app, ["run", str(path)])
    assert res.exit_code == 2 and len([ln for ln in res.stderr.splitlines() if ln.strip()]) == 1, (text, res.stderr)
    assert not list(d.glob("*.zarr"))
