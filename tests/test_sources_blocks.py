from __future__ import annotations

import pytest

from nngexport.errors import SourceError
from nngexport.plan import Chunk
from nngexport.render import PreRendered, render_chunk, render_rows
from nngexport.sources import open_source


@pytest.mark.parametrize("size", [24, 100, 65_536, 2**20])
def test_every_line_is_exactly_the_block_size(size: int) -> None:
    source = open_source(f"blocks:?count=25&size={size}")
    rendered = [render_chunk(source, chunk) for chunk in source.plan(4)]
    data = b"".join(chunk.data for chunk in rendered)
    lines = data.split(b"\r\n")
    assert lines.pop() == b""
    assert [len(line) + 2 for line in lines] == [size] * 25
    assert [line.split(b",")[0] for line in lines] == [
        str(k).encode() for k in range(25)
    ]
    assert sum(chunk.rows for chunk in rendered) == 25


def test_the_url_round_trips() -> None:
    source = open_source("BLOCKS:?size=4096&count=3")
    assert source.url == "blocks:?count=3&size=4096"
    assert open_source(source.url).url == source.url
    assert source.columns == ("block", "payload")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("blocks:?count=3", "missing parameter 'size'"),
        ("blocks:?size=100", "missing parameter 'count'"),
        ("blocks:?count=-1&size=100", "count must be a non-negative integer"),
        ("blocks:?count=1&size=10", "size must be 24 to"),
        ("blocks:?count=1&size=999999999", "size must be 24 to"),
        ("blocks:?count=1&size=100&sql=drop", "unknown parameter 'sql'"),
        ("blocks://host?count=1&size=100", "expected blocks:?count=N&size=BYTES"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, said: str) -> None:
    with pytest.raises(SourceError, match=said.replace("?", r"\?")):
        open_source(url)


@pytest.mark.parametrize("size", [24, 1000, 65_536])
def test_pre_rendered_chunks_are_what_the_csv_writer_makes(size: int) -> None:
    source = open_source(f"blocks:?count=1200&size={size}")
    assert isinstance(source, PreRendered)
    for chunk in source.plan(300):
        assert source.render(chunk) == render_rows(source.read(chunk))
    empty = Chunk(index=0, lo=5000, hi=6000, rows=0)
    assert source.render(empty) == render_rows(source.read(empty)) == (0, b"")
