"""README's documented command lines match the command line: every `scalinglab COMMAND --option`
it shows exists (checked through the command's `--help`)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from flows.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _documented() -> dict[str, set[str]]:
    """command -> options, from every line of a README code block that runs `scalinglab`."""
    out: dict[str, set[str]] = {}
    in_code = False
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            continue
        text = line.split("#")[0] if not line.lstrip().startswith("scalinglab") else re.sub(r"\s+#.*$", "", line)
        m = re.match(r"\s*scalinglab\s+([a-z][a-z-]*)(.*)", text)
        if not m:
            continue
        opts = {o.split("=")[0] for o in re.findall(r"--[a-z][a-z-]*(?:=\S*)?", m.group(2))}
        out.setdefault(m.group(1), set()).update(opts)
    return out


DOCUMENTED = _documented()


def test_readme_documents_the_commands():
    assert {"plan", "run", "status", "resume", "query", "analyze", "fit", "frontier", "phase-map", "plot",
            "models", "params"} <= set(DOCUMENTED)


@pytest.mark.parametrize("command", sorted(DOCUMENTED))
def test_documented_options_exist(command):
    group = get_command(app)
    assert command in group.commands, f"README documents `scalinglab {command}`, which does not exist"
    res = CliRunner().invoke(app, [command, "--help"])
    assert res.exit_code == 0, res.stderr
    known = {opt for p in group.commands[command].params for opt in (*p.opts, *p.secondary_opts)}
    for opt in DOCUMENTED[command]:
        assert opt in known, f"README shows `scalinglab {command} {opt}`; --help lists {sorted(known)}"
