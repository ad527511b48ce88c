"""Structure checks of issue 12: no import cycles, every module importable alone, no model name in the
orchestration layers, every registered model conforms to the protocol."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCIENCE = REPO / "scalinglab"


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` is imported (module level only; lazy imports inside functions excluded)."""
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base_mod = ".".join(base + ([node.module] if node.module else []))
            else:
                base_mod = node.module or ""
            subs = {f"{base_mod}.{a.name}" for a in node.names}
            found = {m for m in subs if (REPO / Path(*m.split("."))).with_suffix(".py").exists()
                     or (REPO / Path(*m.split(".")) / "__init__.py").exists()}
            out |= found  # `from pkg import submodule` imports the submodule (pkg is its parent, already loading)
            if len(found) < len(subs):
                out.add(base_mod)
    return out


def test_import_graph_of_scalinglab_has_no_cycles():
    files = {_module_name(p): p for p in SCIENCE.rglob("*.py")}
    graph = {m: {i for i in _top_level_imports(p) if i in files and i != m} for m, p in files.items()}
    # deprecated alias modules re-point sys.modules at their target: follow them as plain edges
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_every_scalinglab_module_imports_alone():
    """Each module imported first in a clean set of scalinglab modules (one interpreter, sys.modules
    purged of scalinglab between imports): no hidden order dependence."""
    mods = sorted(_module_name(p) for p in SCIENCE.rglob("*.py"))
    code = (
        "import importlib, sys\n"
        f"mods = {mods!r}\n"
        "bad = []\n"
        "for m in mods:\n"
        "    for k in [k for k in sys.modules if k == 'scalinglab' or k.startswith('scalinglab.')]:\n"
        "        del sys.modules[k]\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except Exception as e:\n"
        "        bad.append(f'{m}: {type(e).__name__}: {e}')\n"
        "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_no_model_name_in_flows_tasks_storage():
    """Whatever differs per model comes from the Model protocol: flows/, tasks/ and storage/ name no model."""
    from scalinglab.models import model_names

    names = sorted(set(model_names()) | {"plrf", "bap", "lin"})
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b", re.IGNORECASE)
    hits = []
    for folder in ("flows", "tasks", "storage"):
        for f in (REPO / folder).rglob("*.py"):
            for i, line in enumerate(f.read_text().splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{f.relative_to(REPO)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_the_grep_finds_a_planted_name(tmp_path):
    """The check above has teeth: the same pattern finds a model name in a line like the old code's."""
    pattern = re.compile(r"\b(plrf|bap|lin)\b", re.IGNORECASE)
    assert pattern.search('    if spec.model == "plrf" and ds.sizes["alpha"] >= 2:')
    assert not pattern.search("np.linspace(0, 1)  # linear, baptism")


@pytest.mark.parametrize("name", ["plrf", "bap", "lin"])
def test_builtin_models_conform_and_document_every_param(name):
    from scalinglab.models import check_model, get_model

    m = check_model(get_model(name), name)
    for field, info in m.Params.model_fields.items():
        assert len(info.description or "") >= 20, (name, field)
    # old tier names keep working, with a DeprecationWarning, and map to the new ones
    for old, new in m.aliases.items():
        assert new in {**m.theory_tiers, **m.sim_methods}


def test_a_nonconforming_model_is_refused_with_every_gap_named():
    from pydantic import BaseModel

    from scalinglab.models import ModelBase, ModelConformanceError, check_model

    class P(BaseModel):
        x: int = 1  # no description

    class Half(ModelBase):
        name = "half"
        Params = P
        theory_tiers = {"t": "a tier"}
        sim_methods = {}

    with pytest.raises(ModelConformanceError, match=r"'half'.*without a description: \['x'\].*sim_methods` is empty"):
        check_model(Half(), "half")
    with pytest.raises(ModelConformanceError, match="registered as 'other'"):
        check_model(Half(), "other")


def test_old_tier_names_warn_and_record_the_new_name():
    from scalinglab.spec import parse_spec

    base = {"model": "lin", "methods": ["theory"], "grid": {"alpha": [1.0], "beta": [0.0], "N": [8], "t": [1, 10]},
            "store": {"path": "x.zarr"}}
    with pytest.warns(DeprecationWarning, match="'de' is deprecated; use 'ridge_bridge'"):
        spec = parse_spec({**base, "params": {"theory": "de"}})
    m = spec.model_module()
    assert m.tier(spec.params) == "ridge_bridge"
    assert spec.params.theory == "de"  # kept as written: the stored spec and its hash do not change
    new = parse_spec({**base, "params": {"theory": "ridge_bridge"}})
    assert np.array_equal(spec.unit_keys("theory"), new.unit_keys("theory"))  # same science, same units


import numpy as np  # noqa: E402
