"""The package's public names, and what importing it costs a worker."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import nngexport


def test_every_public_name_is_found_in_its_module() -> None:
    assert sorted(nngexport.__all__) == sorted(nngexport._HOME)
    for name, home in nngexport._HOME.items():
        module = importlib.import_module(home, "nngexport")
        assert getattr(nngexport, name) is getattr(module, name)
    assert set(nngexport.__all__) <= set(dir(nngexport))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        nngexport.no_such_name  # noqa: B018


def test_the_command_line_does_not_import_what_a_worker_never_runs() -> None:
    # Every local worker runs nngexport.cli: the coordinator, the bench and
    # the Redis designs' halves would slow each one's start.
    heavy = [
        "nngexport.api",
        "nngexport.bench",
        "nngexport.coordinator",
        "nngexport.designs.redis_coordinator",
        "nngexport.designs.redis_worker",
        "nngexport.sink",
        "redis",
    ]
    probe = (
        "import sys, nngexport.cli as cli; cli.build_parser();"
        f" print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
