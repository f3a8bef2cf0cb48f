"""The allocator setting the command line applies (see nngexport.malloc)."""

from __future__ import annotations

import platform

import pytest

from nngexport.malloc import fix_mmap_threshold, limit_arenas


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="mallopt's settings are glibc's"
)
def test_glibc_takes_the_threshold_and_the_arena_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert fix_mmap_threshold()
    assert limit_arenas()


def test_a_threshold_the_user_chose_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert not fix_mmap_threshold()


def test_an_arena_limit_the_user_chose_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not limit_arenas()
