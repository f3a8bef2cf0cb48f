from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nngexport.errors import OutputError
from nngexport.journal import (
    NOTHING_DONE,
    Journal,
    JournalHeader,
    JournalProgress,
    check_resumable,
    plan_digest,
)
from nngexport.output import AtomicOutput, journal_path, part_path
from nngexport.plan import Chunk, plan_dense

SOURCE = "synthetic:?rows=25&seed=1"
COLUMNS = ("id", "name")
CHUNKS = plan_dense(25, 10)
HEADER = JournalHeader(SOURCE, COLUMNS, 10, len(CHUNKS), plan_digest(COLUMNS, CHUNKS))
DIGEST = hashlib.sha256(b"x").hexdigest()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return journal_path(tmp_path / "out.csv")


def _line(value: Any) -> bytes:
    return json.dumps(value).encode() + b"\n"


def _one_line_error(error: pytest.ExceptionInfo[OutputError], path: Path) -> str:
    message = str(error.value)
    assert "\n" not in message
    assert repr(str(path)) in message
    return message


def test_a_journal_round_trips_its_header_and_last_record(path: Path) -> None:
    journal = Journal.create(path, HEADER)
    journal.record(0, 9, sha256=DIGEST)
    journal.record(2, 300)
    journal.close()
    assert Journal.load(path) == (HEADER, JournalProgress(2, 300, None))


def test_a_journal_without_records_means_nothing_was_written(path: Path) -> None:
    Journal.create(path, HEADER).close()
    assert Journal.load(path) == (HEADER, NOTHING_DONE)
    assert NOTHING_DONE.sha256 == hashlib.sha256(b"").hexdigest()


def test_a_reopened_journal_continues_where_it_stopped(path: Path) -> None:
    first = Journal.create(path, HEADER)
    first.record(1, 100)
    first.close()
    second = Journal.reopen(path)
    assert (second.header, second.progress) == (HEADER, JournalProgress(1, 100))
    with pytest.raises(ValueError, match="backwards"):
        second.record(0, 100)
    second.record(3, 250, sha256=DIGEST)
    second.close()
    assert Journal.load(path)[1] == JournalProgress(3, 250, DIGEST)


def test_create_refuses_an_existing_journal(path: Path) -> None:
    Journal.create(path, HEADER).close()
    before = path.read_bytes()
    with pytest.raises(OutputError) as caught:
        Journal.create(path, HEADER)
    message = _one_line_error(caught, path)
    assert "--resume" in message
    assert repr(str(part_path(path.parent / "out.csv"))) in message
    assert path.read_bytes() == before


def test_remove_deletes_the_journal_and_close_keeps_it(path: Path) -> None:
    journal = Journal.create(path, HEADER)
    journal.close()
    assert path.exists()
    journal.remove()
    assert list(path.parent.iterdir()) == []
    with pytest.raises(OutputError, match="already closed"):
        journal.record(1, 1)


def test_record_refuses_more_chunks_than_the_plan_has(path: Path) -> None:
    journal = Journal.create(path, HEADER)
    with pytest.raises(ValueError, match="plan has 3 chunks"):
        journal.record(4, 1000)
    journal.close()


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1000)), max_size=8),
    st.data(),
)
def test_a_torn_last_line_is_ignored_and_cut_off_on_reopen(
    steps: list[tuple[int, int]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = journal_path(Path(directory) / "out.csv")
        journal = Journal.create(path, HEADER)
        header_end = path.stat().st_size
        ends = [header_end]
        records = [NOTHING_DONE]
        chunks = size = 0
        for more_chunks, more_bytes in steps:
            chunks, size = min(chunks + more_chunks, HEADER.chunks), size + more_bytes
            journal.record(chunks, size)
            ends.append(path.stat().st_size)
            records.append(JournalProgress(chunks, size))
        journal.close()
        cut = data.draw(st.integers(header_end, ends[-1]))
        with path.open("r+b") as file:
            file.truncate(cut)
        last = max(i for i, end in enumerate(ends) if end <= cut)
        assert Journal.load(path) == (HEADER, records[last])
        reopened = Journal.reopen(path)
        assert path.stat().st_size == ends[last]
        reopened.record(HEADER.chunks, size + 1)
        reopened.close()
        assert Journal.load(path)[1] == JournalProgress(HEADER.chunks, size + 1)


GOOD = {"chunks_done": 1, "bytes_done": 10, "sha256": None}


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        (b"not json\n", "line 3 is not JSON"),
        (b"\xff\xfe\n", "line 3 is not JSON"),
        (b"[1, 10]\n", "not a JSON object"),
        (_line({"chunks_done": 1, "bytes_done": 10}), "missing ['sha256']"),
        (_line({**GOOD, "rows": 5}), "extra ['rows']"),
        (_line({**GOOD, "chunks_done": True}), "chunks_done True"),
        (_line({**GOOD, "bytes_done": -1}), "bytes_done -1"),
        (_line({**GOOD, "bytes_done": 1.5}), "bytes_done 1.5"),
        (_line({**GOOD, "chunks_done": 4}), "the plan has 3"),
        (_line({**GOOD, "sha256": "abc"}), "sha256 that is not a digest"),
        (_line({**GOOD, "bytes_done": 9}), "goes backwards: (1, 9) after (1, 10)"),
        (_line({**GOOD, "chunks_done": 0}), "goes backwards: (0, 10) after (1, 10)"),
        (b"\n", "line 3 is not JSON"),
    ],
)
def test_a_damaged_record_is_an_error(path: Path, line: bytes, complaint: str) -> None:
    journal = Journal.create(path, HEADER)
    journal.record(1, 10)
    journal.close()
    with path.open("ab") as file:
        file.write(line + _line(GOOD))
    with pytest.raises(OutputError) as caught:
        Journal.load(path)
    assert complaint in _one_line_error(caught, path)
    with pytest.raises(OutputError):
        Journal.reopen(path)


def _header_line(**changes: Any) -> bytes:
    value = {
        "format": "nngexport-journal",
        "version": 1,
        "source": SOURCE,
        "columns": list(COLUMNS),
        "chunk_rows": 10,
        "chunks": 3,
        "plan_digest": HEADER.plan_digest,
    }
    value.update(changes)
    return _line({k: v for k, v in value.items() if v is not None})


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b"", "no complete header line"),
        (_header_line()[:-1], "no complete header line"),
        (_header_line(format="csv"), "is not an nngexport journal"),
        (_header_line(version=2), "format version 2"),
        (_header_line(version=True), "format version True"),
        (_header_line(chunks=0), "chunks 0"),
        (_header_line(chunk_rows="10"), "chunk_rows '10'"),
        (_header_line(columns=["id", 3]), "columns that are not strings"),
        (_header_line(source=None), "missing ['source']"),
        (_header_line(plan_digest="x"), "plan_digest that is not a digest"),
        (b"x" * 100 + b"\n", "line 1 is not JSON"),
    ],
)
def test_a_damaged_header_is_an_error(
    path: Path, content: bytes, complaint: str
) -> None:
    path.write_bytes(content)
    with pytest.raises(OutputError) as caught:
        Journal.load(path)
    assert complaint in _one_line_error(caught, path)


def test_a_missing_journal_cannot_be_loaded(path: Path) -> None:
    with pytest.raises(OutputError) as caught:
        Journal.load(path)
    assert "No such file" in _one_line_error(caught, path)


def test_the_plan_digest_tells_plans_apart() -> None:
    digests = {
        plan_digest(COLUMNS, CHUNKS),
        plan_digest(("id",), CHUNKS),
        plan_digest(("id", "name", ""), CHUNKS),
        plan_digest(("id,name",), CHUNKS),
        plan_digest(COLUMNS, CHUNKS[:-1]),
        plan_digest(COLUMNS, plan_dense(26, 10)),
        plan_digest(COLUMNS, plan_dense(25, 5)),
        plan_digest(COLUMNS, [Chunk(0, None, None, 25)]),
        plan_digest(COLUMNS, [Chunk(0, 0, None, 25)]),
        plan_digest(COLUMNS, [Chunk(1, None, None, 25)]),
    }
    assert len(digests) == 10
    assert plan_digest(list(COLUMNS), list(CHUNKS)) == HEADER.plan_digest


def test_an_identical_plan_is_resumable() -> None:
    check_resumable(
        HEADER, source=SOURCE, columns=list(COLUMNS), chunk_rows=10, chunks=CHUNKS
    )


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"source": "synthetic:?rows=25&seed=2"}, "read 'synthetic:?rows=25&seed=1'"),
        ({"columns": ("id",)}, "had columns ['id', 'name'], now they are ['id']"),
        ({"chunk_rows": 5, "chunks": plan_dense(25, 5)}, "used 10 rows per chunk"),
        ({"chunks": plan_dense(26, 10)}, "table changed"),
        ({"chunks": plan_dense(35, 10)}, "(3 chunks then, 4 now)"),
    ],
)
def test_a_different_plan_is_not_resumable(
    tmp_path: Path, changes: dict[str, Any], complaint: str
) -> None:
    planned: dict[str, Any] = {
        "source": SOURCE,
        "columns": COLUMNS,
        "chunk_rows": 10,
        "chunks": CHUNKS,
    }
    planned.update(changes)
    output = tmp_path / "out.csv"
    with pytest.raises(OutputError) as caught:
        check_resumable(HEADER, output=output, **planned)
    message = str(caught.value)
    assert "\n" not in message
    assert complaint in message
    assert repr(str(part_path(output))) in message
    assert repr(str(journal_path(output))) in message
    with pytest.raises(OutputError, match="part file and journal to start over"):
        check_resumable(HEADER, **planned)


#: A child that writes a header and chunks 0-2 with a record after each, writes
#: chunk 3 without one, and is killed before it can close anything.
KILLED_EXPORT = """
import os, signal, sys
from nngexport.journal import Journal, JournalHeader
from nngexport.output import AtomicOutput, journal_path

header = JournalHeader("src", ("line",), 1, 5, "0" * 64)
out = AtomicOutput(sys.argv[1])
journal = Journal.create(journal_path(sys.argv[1]), header)
out.write(b"head\\r\\n")
journal.record(0, out.bytes_written, sha256=out.sha256)
for index in range(4):
    out.write(b"chunk %d\\r\\n" % index)
    if index < 3:
        journal.record(index + 1, out.bytes_written, sha256=out.sha256)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_export_resumes_from_its_journal(tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    child = subprocess.run(
        [sys.executable, "-c", KILLED_EXPORT, str(output)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    header, progress = Journal.load(journal_path(output))
    assert progress.chunks_done == 3
    resumed = AtomicOutput.resume(output, progress.bytes_done, sha256=progress.sha256)
    journal = Journal.reopen(journal_path(output))
    for index in range(progress.chunks_done, header.chunks):
        resumed.write(b"chunk %d\r\n" % index)
        journal.record(index + 1, resumed.bytes_written, sha256=resumed.sha256)
    resumed.commit()
    journal.remove()
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert output.read_bytes() == b"head\r\n" + b"".join(
        b"chunk %d\r\n" % index for index in range(5)
    )


def _load_or_refuse(content: bytes) -> None:
    """Journal.load on ``content``: a header and progress, or OutputError."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "journal"
        path.write_bytes(content)
        try:
            header, progress = Journal.load(path)
        except OutputError:
            return
        assert isinstance(header, JournalHeader)
        assert isinstance(progress, JournalProgress)


@given(st.binary(max_size=600))
def test_random_bytes_load_as_a_journal_or_raise_output_error(content: bytes) -> None:
    _load_or_refuse(content)


@given(st.data())
def test_mutated_journals_load_or_raise_output_error(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = journal_path(Path(directory) / "out.csv")
        journal = Journal.create(path, HEADER)
        journal.record(2, 500, sha256="ab" * 32)
        journal.close()
        content = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(content) - 1))
        content[position] = data.draw(st.integers(0, 255))
    _load_or_refuse(bytes(content))
