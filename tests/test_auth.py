from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nngexport.auth import (
    SECRET_ENV,
    SECRET_FILE_ENV,
    TAG_BYTES,
    Sealer,
    UnauthenticatedError,
    load_secret,
)
from nngexport.errors import ProtocolError, UsageError
from nngexport.wire import Survey, decode, encode

KEY = b"k" * 32


def test_a_sealed_frame_opens_to_itself() -> None:
    frame = encode(Survey("job", "tcp://a:1", "tcp://a:2"))
    sealed = Sealer(KEY).seal(frame)
    assert len(sealed) == len(frame) + TAG_BYTES
    assert bytes(Sealer(KEY).open(sealed)) == frame


def test_another_key_or_a_changed_byte_is_refused() -> None:
    sealed = bytearray(Sealer(KEY).seal(b"hello"))
    with pytest.raises(UnauthenticatedError, match="does not match"):
        Sealer(b"x" * 32).open(bytes(sealed))
    sealed[0] ^= 1
    with pytest.raises(UnauthenticatedError, match="does not match"):
        Sealer(KEY).open(bytes(sealed))
    with pytest.raises(UnauthenticatedError, match="too short"):
        Sealer(KEY).open(b"short")


@given(st.binary(max_size=400))
def test_random_bytes_open_only_by_chance_never_crash(data: bytes) -> None:
    sealer = Sealer(KEY)
    try:
        frame = sealer.open(data)
    except ProtocolError:
        return
    # Forging a tag by chance is 2**-256: a frame that opens was sealed.
    with contextlib.suppress(ProtocolError):
        decode(frame)


@given(st.binary(min_size=1, max_size=200), st.data())
def test_any_change_to_a_sealed_frame_is_refused(
    frame: bytes, data: st.DataObject
) -> None:
    sealed = bytearray(Sealer(KEY).seal(frame))
    position = data.draw(st.integers(0, len(sealed) - 1))
    sealed[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(UnauthenticatedError):
        Sealer(KEY).open(bytes(sealed))


def test_the_secret_comes_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.delenv(SECRET_FILE_ENV, raising=False)
    assert load_secret() is None
    monkeypatch.setenv(SECRET_ENV, " " + "s" * 20 + "\n")
    sealer = load_secret()
    assert sealer is not None
    assert bytes(Sealer(b"s" * 20).open(sealer.seal(b"x"))) == b"x"
    secret = tmp_path / "secret"
    secret.write_bytes(b"f" * 40 + b"\n")
    monkeypatch.setenv(SECRET_FILE_ENV, str(secret))
    from_file = load_secret()
    assert from_file is not None
    assert bytes(Sealer(b"f" * 40).open(from_file.seal(b"x"))) == b"x"
    with pytest.raises(UsageError, match="cannot read the shared secret"):
        load_secret(str(tmp_path / "missing"))
    monkeypatch.setenv(SECRET_ENV, "short")
    monkeypatch.delenv(SECRET_FILE_ENV)
    with pytest.raises(UsageError, match="at least 16"):
        load_secret()
