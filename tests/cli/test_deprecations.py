"""Deprecated spec keys and tier names are accepted and said, one line each, on stderr (issue 10.2:
``draws``/``sketches`` are replaced by the seeds; issue 12: old tier names)."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.toml"


@pytest.mark.parametrize("extra, words", [
    ("draws = 4", ["warning: plrf: `draws` is deprecated and ignored by sweeps", "set `seeds` instead"]),
    ('theory = "exact"', ["warning: plrf: theory tier 'exact' is deprecated; use 'exact_given_draw'"]),
])
def test_deprecated_params_warn_once_in_one_line(tmp_path, extra, words):
    spec = tmp_path / "spec.toml"
    text = QUICKSTART.read_text()
    head, _, tail = text.partition("\n[params]")
    params_line, _, rest = tail.partition("\n")
    spec.write_text(f"{head}\n[params]{params_line}\n{extra}\n{rest}")
    result = CliRunner().invoke(app, ["plan", str(spec), "--json"])
    assert result.exit_code == 0, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1 and all(w in lines[0] for w in words), result.stderr


def test_no_warning_without_deprecated_keys():
    result = CliRunner().invoke(app, ["plan", str(QUICKSTART), "--json"])
    assert result.exit_code == 0 and "warning:" not in result.stderr, result.stderr
