"""The long soak, off by default: ``pytest -m soak`` (or scripts/soak.py)."""

from __future__ import annotations

import pytest
import trio

from nngexport.faults import FAULTS, run_trial, summarise


@pytest.mark.soak
@pytest.mark.timeout(3600)
async def test_two_hundred_faulty_exports_are_all_identical() -> None:
    results = []
    with trio.fail_after(3500):
        for number in range(200):
            results.append(
                await run_trial(5000 + number, fault=FAULTS[number % len(FAULTS)])
            )
    report = summarise(results)
    assert (report.identical, report.rows_lost, report.rows_doubled) == (200, 0, 0)
