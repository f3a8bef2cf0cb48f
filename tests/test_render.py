from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nngexport.errors import SourceError
from nngexport.plan import Chunk
from nngexport.render import RenderedChunk, render_chunk, render_header, render_rows
from nngexport.sources.synthetic import SyntheticSource

AWKWARD = ["", ",", '"', "\n", "\r\n", "\r", "a,b", 'say "hi"', "Zürich", "東京", "🎉"]

# Lone surrogates cannot be encoded as UTF-8; every other code point can.
texts = st.one_of(
    st.sampled_from(AWKWARD),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    st.lists(st.sampled_from([*AWKWARD, "x", " "]), max_size=6).map("".join),
)
cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    texts,
    st.binary(max_size=8),
    st.datetimes(),
    st.dates(),
)


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@given(
    st.integers(1, 5).flatmap(
        lambda width: st.lists(
            st.lists(st.none() | texts, min_size=width, max_size=width), max_size=20
        )
    )
)
def test_text_round_trips_through_the_csv_reader(
    rows: list[list[str | None]],
) -> None:
    count, data = render_rows(rows)
    assert count == len(rows)
    assert parse(data) == [
        ["" if cell is None else cell for cell in row] for row in rows
    ]


@given(st.lists(st.lists(cells, max_size=6), max_size=30), st.data())
def test_rendering_parts_concatenates_to_rendering_the_whole(
    rows: list[list[object]], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(rows)))
    head_count, head = render_rows(rows[:cut])
    tail_count, tail = render_rows(iter(rows[cut:]))
    assert (head_count + tail_count, head + tail) == render_rows(rows)


def test_header_names_the_columns() -> None:
    assert render_header(["id", "name"]) == b"id,name\r\n"
    assert render_header(["a,b", 'q"', "ü"]) == '"a,b","q""",ü\r\n'.encode()


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-(10**30), "-" + "1" + "0" * 30),
        (0.1, "0.1"),
        (1e16, "1e+16"),
        (-0.0, "-0.0"),
        (1 / 3, "0.3333333333333333"),
        (float("nan"), "NaN"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
        ("", ""),
        ("nan", "nan"),
        ("True", "True"),
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ("two\r\nlines", '"two\r\nlines"'),
        ("Zürich 東京 🎉", "Zürich 東京 🎉"),
        (b"\x00\xffA", "00ff41"),
        (bytearray(b"\x10"), "10"),
        (memoryview(b"\xab\xcd"), "abcd"),
        (datetime.datetime(2024, 5, 1, 12, 30), "2024-05-01 12:30:00"),
        (datetime.datetime(2024, 5, 1, 0, 0, 0, 5), "2024-05-01 00:00:00.000005"),
        (datetime.date(2024, 5, 1), "2024-05-01"),
    ],
)
def test_cells_are_converted_as_documented(value: object, field: str) -> None:
    assert render_rows([[value, "x"]]) == (1, f"{field},x\r\n".encode())


def test_nan_is_found_among_text_that_contains_nan() -> None:
    rows = [(1.5, "banana"), (float("nan"), "nan"), (2.0, "finance")]
    assert render_rows(rows)[1] == b"1.5,banana\r\nNaN,nan\r\n2.0,finance\r\n"
    assert render_rows([(1.5, "banana")])[1] == b"1.5,banana\r\n"


def test_rows_of_changing_types_are_each_converted() -> None:
    rows = [(1, True), (True, 1), (None, b"\x01"), ("b'x'", 2.5)]
    assert render_rows(rows)[1] == b"1,true\r\ntrue,1\r\n,01\r\nb'x',2.5\r\n"


def test_no_rows_render_to_nothing() -> None:
    assert render_rows([]) == (0, b"")


def test_a_chunk_renders_the_rows_the_source_reads() -> None:
    source = SyntheticSource(rows=250, seed=9)
    chunk = source.plan(100)[2]
    rendered = render_chunk(source, chunk)
    assert rendered == RenderedChunk(
        index=2, rows=50, data=render_rows(list(source.read(chunk)))[1]
    )
    assert len(parse(rendered.data)) == 50


class SurrogateSource:
    url = "test:surrogate"
    columns = ("text",)

    def plan(self, chunk_rows: int) -> list[Chunk]:
        return [Chunk(0, None, None, 1)]

    def read(self, chunk: Chunk) -> Iterator[Sequence[object]]:
        yield ("broken \udc80 text",)

    def close(self) -> None:
        pass


def test_text_that_utf8_cannot_encode_is_a_source_error() -> None:
    source = SurrogateSource()
    with pytest.raises(SourceError, match="chunk 0 holds text that is not valid"):
        render_chunk(source, source.plan(1)[0])
