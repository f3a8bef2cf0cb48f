from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nngexport.errors import OutputError
from nngexport.output import AtomicOutput, journal_path, part_path


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _export(output: Path, chunks: list[bytes]) -> AtomicOutput:
    out = AtomicOutput(output)
    for chunk in chunks:
        out.write(chunk)
    return out


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_part_and_journal_live_beside_the_output_under_fixed_names() -> None:
    assert part_path(Path("/d/out.csv")) == Path("/d/.out.csv.nngexport-part")
    assert journal_path("/d/out.csv") == Path("/d/.out.csv.nngexport-journal")


def test_bytes_go_to_the_part_file_until_commit(tmp_path: Path) -> None:
    out = _export(tmp_path / "out.csv", [b"a,b\r\n", b"1,2\r\n"])
    assert out.temp_path == part_path(tmp_path / "out.csv")
    assert _names(tmp_path) == [".out.csv.nngexport-part"]
    assert out.temp_path.read_bytes() == b"a,b\r\n1,2\r\n"
    out.commit()
    assert _names(tmp_path) == ["out.csv"]
    assert (tmp_path / "out.csv").read_bytes() == b"a,b\r\n1,2\r\n"
    assert out.bytes_written == 10
    assert out.sha256 == hashlib.sha256(b"a,b\r\n1,2\r\n").hexdigest()


def test_abort_deletes_the_part_file_and_keep_leaves_it(tmp_path: Path) -> None:
    _export(tmp_path / "gone.csv", [b"x"]).abort()
    _export(tmp_path / "kept.csv", [b"y"]).keep()
    assert _names(tmp_path) == [".kept.csv.nngexport-part"]
    assert part_path(tmp_path / "kept.csv").read_bytes() == b"y"


def test_a_closed_output_refuses_writes(tmp_path: Path) -> None:
    out = _export(tmp_path / "out.csv", [])
    out.keep()
    with pytest.raises(OutputError, match="already closed"):
        out.write(b"x")
    with pytest.raises(OutputError, match="already closed"):
        out.commit()


def test_a_new_export_refuses_to_start_over_an_interrupted_one(
    tmp_path: Path,
) -> None:
    _export(tmp_path / "out.csv", [b"first"]).keep()
    with pytest.raises(OutputError) as caught:
        AtomicOutput(tmp_path / "out.csv")
    message = str(caught.value)
    assert "\n" not in message
    assert repr(str(part_path(tmp_path / "out.csv"))) in message
    assert repr(str(journal_path(tmp_path / "out.csv"))) in message
    assert "--resume" in message
    assert part_path(tmp_path / "out.csv").read_bytes() == b"first"


def test_the_output_gets_the_permissions_umask_allows(
    tmp_path: Path, umask_022: None
) -> None:
    _export(tmp_path / "out.csv", [b"x"]).commit()
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == 0o644


def test_an_output_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a directory"):
        AtomicOutput(tmp_path)
    with pytest.raises(OutputError, match="no directory"):
        AtomicOutput(tmp_path / "missing" / "out.csv")


@st.composite
def interrupted_exports(draw: st.DrawFn) -> tuple[list[bytes], int, bytes]:
    """Chunks, how many were recorded before the crash, and bytes written after."""
    chunks = draw(st.lists(st.binary(max_size=50), max_size=12))
    recorded = draw(st.integers(0, len(chunks)))
    lost = draw(st.binary(max_size=50))
    return chunks, recorded, lost


@given(interrupted_exports())
def test_a_resumed_export_equals_an_uninterrupted_one(
    case: tuple[list[bytes], int, bytes],
) -> None:
    chunks, recorded, lost = case
    with tempfile.TemporaryDirectory() as directory:
        whole = _export(Path(directory) / "whole.csv", chunks)
        whole.commit()
        first = _export(Path(directory) / "out.csv", chunks[:recorded])
        length, digest = first.bytes_written, first.sha256
        first.write(lost)  # written after the journal's last record
        first.keep()
        second = AtomicOutput.resume(Path(directory) / "out.csv", length, sha256=digest)
        assert (second.bytes_written, second.sha256) == (length, digest)
        for chunk in chunks[recorded:]:
            second.write(chunk)
        second.commit()
        assert _names(Path(directory)) == ["out.csv", "whole.csv"]
        assert (Path(directory) / "out.csv").read_bytes() == (
            Path(directory) / "whole.csv"
        ).read_bytes()
        assert (second.sha256, second.bytes_written) == (
            whole.sha256,
            whole.bytes_written,
        )


def test_resume_hashes_a_prefix_larger_than_one_read(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    first = _export(tmp_path / "out.csv", [data, b"lost"])
    first.keep()
    second = AtomicOutput.resume(tmp_path / "out.csv", len(data))
    assert second.sha256 == hashlib.sha256(data).hexdigest()
    second.write(b"end")
    second.commit()
    assert (tmp_path / "out.csv").read_bytes() == data + b"end"


def test_resume_of_a_part_file_shorter_than_the_journal_fails_cleanly(
    tmp_path: Path,
) -> None:
    _export(tmp_path / "out.csv", [b"12345"]).keep()
    with pytest.raises(OutputError) as caught:
        AtomicOutput.resume(tmp_path / "out.csv", 6)
    assert "holds 5 bytes but the journal says 6" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert part_path(tmp_path / "out.csv").read_bytes() == b"12345"


def test_resume_of_a_part_file_with_other_bytes_fails_and_keeps_it(
    tmp_path: Path,
) -> None:
    _export(tmp_path / "out.csv", [b"12345"]).keep()
    digest = hashlib.sha256(b"1234X").hexdigest()
    with pytest.raises(OutputError, match="not the ones the journal recorded"):
        AtomicOutput.resume(tmp_path / "out.csv", 5, sha256=digest)
    assert part_path(tmp_path / "out.csv").read_bytes() == b"12345"


def test_resume_without_a_part_file_fails(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="there is no part file"):
        AtomicOutput.resume(tmp_path / "out.csv", 0)


def test_resume_refuses_a_part_file_a_running_export_holds(tmp_path: Path) -> None:
    running = _export(tmp_path / "out.csv", [b"abc"])
    with pytest.raises(OutputError, match="still running"):
        AtomicOutput.resume(tmp_path / "out.csv", 3)
    running.write(b"def")
    running.commit()
    assert (tmp_path / "out.csv").read_bytes() == b"abcdef"


def test_resume_rejects_a_negative_length(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="-1"):
        AtomicOutput.resume(tmp_path / "out.csv", -1)


def test_a_resumed_output_can_be_kept_again_or_aborted(tmp_path: Path) -> None:
    _export(tmp_path / "out.csv", [b"abc"]).keep()
    again = AtomicOutput.resume(tmp_path / "out.csv", 2)
    again.write(b"Z")
    again.keep()
    assert part_path(tmp_path / "out.csv").read_bytes() == b"abZ"
    AtomicOutput.resume(tmp_path / "out.csv", 3).abort()
    assert _names(tmp_path) == []
