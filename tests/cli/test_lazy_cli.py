"""Light commands start without the numerical stack; errors print one line without library warnings."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from drxlab.cli.main import COMMANDS, cli
from tests.conftest import without_store_line

HEAVY = ("torch", "botorch", "matplotlib", "scipy")

# runs one command in a fresh interpreter, then reports which heavy packages it had imported
PROBE = """
import json, sys
from drxlab.cli.main import cli
try:
    cli.main(sys.argv[1:], prog_name="drxlab")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "heavy": [m for m in HEAVY if m in sys.modules]}))
""".replace("HEAVY", repr(HEAVY))


def _probe(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["status"], ["materials"], ["tests"], ["campaign", "list"]],
    ids=" ".join,
)
def test_light_commands_do_not_import_torch(db_path: Path, args: list[str]) -> None:
    res = _probe("--db", str(db_path), *args)
    assert res["code"] in (0, None)
    assert res["heavy"] == []


def test_help_lists_every_command_with_its_own_short_help() -> None:
    for module in sorted({m for m, _ in COMMANDS.values()}):
        importlib.import_module(f"drxlab.cli.{module}")
    assert set(cli.commands) == set(COMMANDS), "a command is missing from drxlab.cli.main.COMMANDS (or stale)"
    for name, cmd in cli.commands.items():
        assert cmd.get_short_help_str(10**6) == COMMANDS[name][1], name
    assert (
        "Composition-split test of the DRXNet recipe (as in the paper's Figure 3)" in COMMANDS["evaluate"][1]
    )


def test_a_command_whose_module_fails_to_import_is_an_error_not_a_missing_command(monkeypatch) -> None:
    from click.testing import CliRunner

    monkeypatch.setitem(COMMANDS, "broken", ("no_such_module_cmds", "A command whose module is gone."))
    assert "broken" in CliRunner().invoke(cli, ["--help"]).output
    with pytest.raises(ModuleNotFoundError, match="no_such_module_cmds"):
        CliRunner().invoke(cli, ["broken"], catch_exceptions=False)


def test_failing_command_prints_exactly_one_error_line(db_path: Path) -> None:
    # Ar has no Pauling electronegativity: pymatgen warns while the formula is parsed, before the
    # command fails (no model in the store); the user must see only the Error line
    out = subprocess.run(
        [sys.executable, "-m", "drxlab", "--db", str(db_path), "predict", "Li1.2Mn0.4Ar0.4O2"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1
    # the store line (every command names its store) and then only the Error line
    error = without_store_line(out.stderr)
    assert error.count("\n") == 1 and error.startswith("Error: "), out.stderr


def test_warning_filters_end_with_the_command() -> None:
    import warnings

    before = list(warnings.filters)
    from click.testing import CliRunner

    CliRunner().invoke(cli, ["--version"])
    assert warnings.filters == before


def test_writes_of_a_lazily_loaded_command_are_audited_with_its_command_line(db_path: Path) -> None:
    import sqlite3

    spec = Path(__file__).resolve().parents[2] / "campaigns" / "li-mn-o-f.toml"
    out = subprocess.run(
        [sys.executable, "-m", "drxlab", "--db", str(db_path), "campaign", "add", str(spec)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    con = sqlite3.connect(db_path)
    try:
        commands = [r[0] for r in con.execute("SELECT command FROM auditlog")]
    finally:
        con.close()
    assert commands and set(commands) == {"drxlab campaign add"}
