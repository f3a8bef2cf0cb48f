"""The allocator setting the command line applies (see nngexport.malloc)."""

from __future__ import annotations

import platform

import pytest

from nngexport.malloc import fix_mmap_threshold


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="mallopt's threshold is glibc's"
)
def test_glibc_takes_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert fix_mmap_threshold()


def test_a_threshold_the_user_chose_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert not fix_mmap_threshold()
