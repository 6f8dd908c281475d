"""Process supervision ships with the repository (issue 17): systemd units and a Procfile that
restart what exits and start the same commands as the Makefile."""

from __future__ import annotations

import configparser
import re

import pytest

from tests.conftest import ROOT

UNITS = {"web": "kansha-web.service", "worker": "kansha-worker.service",
         "beat": "kansha-beat.service"}


def _unit(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(ROOT / "deploy" / "systemd" / name)
    return parser["Service"]


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def _make_recipe(target: str) -> str:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(rf"^{target}: .*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, target
    return recipe.group(1).strip().splitlines()[-1]


def _args(command: str) -> list[str]:
    """The command's arguments after its program; addresses, numbers and variables (which
    differ between a Makefile, a unit and a Procfile) set aside."""
    return [a for a in command.split()[1:]
            if "$" not in a and not a.isdigit() and not a[:1].isdigit()]


@pytest.mark.parametrize("process", sorted(UNITS))
def test_every_unit_restarts_its_process_whenever_it_exits(process):
    service = _unit(UNITS[process])
    assert service["Restart"] == "always"
    assert int(service["RestartSec"]) <= 10


@pytest.mark.parametrize("process", ["worker", "beat", "serve"])
def test_units_and_procfile_start_what_the_makefile_starts(process):
    name = "web" if process == "serve" else process
    make = _args(_make_recipe(process))
    assert _args(_unit(UNITS[name])["ExecStart"]) == make
    assert _args(_procfile()[name]) == make


def test_gunicorn_runs_without_the_shared_control_socket():
    assert "--no-control-socket" in _make_recipe("serve")
    assert "--no-control-socket" in _procfile()["web"]
