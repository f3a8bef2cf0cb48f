from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nngexport.errors import ProtocolError
from nngexport.plan import Chunk
from nngexport.wire import (
    MAGIC,
    MAX_BATCH,
    VERSION,
    Batch,
    Failure,
    Hello,
    Message,
    Result,
    Survey,
    Taken,
    Task,
    Tasks,
    decode,
    encode,
)

text = st.text(max_size=60)
count = st.integers(min_value=0, max_value=2**63 - 1)
key = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)


@st.composite
def chunks(draw: st.DrawFn) -> Chunk:
    lo = draw(key)
    hi = draw(key)
    if lo is not None and hi is not None and hi < lo:
        lo, hi = hi, lo
    return Chunk(draw(count), lo, hi, draw(count))


replies: st.SearchStrategy[Taken | Result | Failure] = st.one_of(
    st.builds(Taken, text, count, text),
    st.builds(Result, text, count, text, count, st.binary(max_size=200)),
    st.builds(Failure, text, count, text, text),
)

messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Survey, text, text, text),
    st.builds(
        Hello,
        text,
        st.integers(1, 2**63 - 1),
        count,
        count,
        text,
        text,
        st.lists(count, max_size=5).map(tuple),
    ),
    st.builds(Taken, text, count, text),
    st.builds(Task, text, text, chunks()),
    st.builds(Result, text, count, text, count, st.binary(max_size=200)),
    st.builds(Failure, text, count, text, text),
    st.builds(Tasks, text, text, st.lists(chunks(), min_size=1, max_size=5).map(tuple)),
    st.builds(Batch, st.lists(replies, min_size=1, max_size=5).map(tuple)),
)


@given(messages)
def test_a_decoded_message_equals_the_encoded_one(message: Message) -> None:
    assert decode(encode(message)) == message


@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_protocol_error(frame: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode(frame)


@given(messages, st.data())
def test_mutated_frames_decode_or_raise_protocol_error(
    message: Message, data: st.DataObject
) -> None:
    frame = bytearray(encode(message))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(frame) - 1))
        frame[position] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ProtocolError):
        decode(bytes(frame))


@given(messages, st.integers(min_value=0))
def test_truncated_frames_raise_protocol_error(message: Message, cut: int) -> None:
    frame = encode(message)
    header_end = 8 + struct.unpack_from(">I", frame, 4)[0]
    cut = cut % header_end
    with pytest.raises(ProtocolError):
        decode(frame[:cut])


def _frame(kind: int, header: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">2sBBI", MAGIC, VERSION, kind, len(header)) + header + payload


@pytest.mark.parametrize(
    ("frame", "complaint"),
    [
        (b"", "shorter than a header"),
        (b"XX" + bytes(6), "does not start with"),
        (struct.pack(">2sBBI", MAGIC, VERSION + 1, 1, 0), "version"),
        (_frame(9, b"{}"), "unknown message kind"),
        (_frame(1, b"[]"), "not an object"),
        (_frame(1, b"{"), "not valid JSON"),
        (_frame(1, b'{"job":"j","tasks":"t"}'), "missing ['results']"),
        (_frame(1, b'{"job":"j","tasks":"t","results":"r","x":1}'), "extra ['x']"),
        (_frame(1, b'{"job":1,"tasks":"t","results":"r"}'), "must be a string"),
        (
            _frame(4, b'{"job":"j","index":true,"worker":"w","rows":1}'),
            "must be an integer",
        ),
        (
            _frame(4, b'{"job":"j","index":-1,"worker":"w","rows":1}'),
            "out of range",
        ),
        (
            _frame(3, b'{"job":"j","source":"s","index":0,"lo":5,"hi":1,"rows":0}'),
            "backwards",
        ),
        (_frame(1, b'{"job":"j","tasks":"t","results":"r"}', b"x"), "no payload"),
        (_frame(1, b"[" * 100_000 + b"]" * 100_000), "too long"),
        (_frame(1, b"[" * 50_000 + b"]" * 10), "not valid JSON"),
        (
            _frame(
                2,
                b'{"worker":"w","slots":1,"busy":0,"pid":1,"host":"h","job":"j",'
                b'"held":[1,true]}',
            ),
            "bad index",
        ),
    ],
)
def test_bad_frames_say_what_is_wrong(frame: bytes, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint.replace("[", r"\[")):
        decode(frame)


def test_the_result_payload_is_carried_raw() -> None:
    data = b'a,"b\r\nc"\r\n' * 1000
    frame = encode(Result("j", 3, "w", 1000, data))
    assert frame.endswith(data)
    assert len(frame) < len(data) + 80


def test_decode_as_refuses_another_kind() -> None:
    from nngexport.wire import decode_as

    frame = encode(Survey("j", "t", "r"))
    assert decode_as(frame, Survey) == Survey("j", "t", "r")
    with pytest.raises(ProtocolError, match="expected a Task, got a Survey"):
        decode_as(frame, Task)


def test_batches_say_what_is_wrong() -> None:
    taken = encode(Taken("j", 1, "w"))
    survey = encode(Survey("j", "t", "r"))
    cases = [
        (_frame(8, b'{"sizes":[]}'), "1 to 256 sizes"),
        (_frame(8, b'{"sizes":[0]}'), "bad size"),
        (_frame(8, b'{"sizes":[%d]}' % (len(taken) + 1), taken), "add up to"),
        (_frame(8, b'{"sizes":[%d]}' % len(survey), survey), "cannot hold a Survey"),
        (_frame(7, b'{"job":"j","source":"s","chunks":[]}'), "1 to 256 chunks"),
        (_frame(7, b'{"job":"j","source":"s","chunks":[[1,2]]}'), "bad chunk"),
        (_frame(7, b'{"job":"j","source":"s","chunks":[[0,5,1,0]]}'), "backwards"),
        (_frame(7, b'{"job":"j","source":"s","chunks":[[0,"x",1,0]]}'), "integer"),
    ]
    for frame, complaint in cases:
        with pytest.raises(ProtocolError, match=complaint):
            decode(frame)
    many = Batch((Taken("j", 1, "w"),) * (MAX_BATCH + 1))
    with pytest.raises(ProtocolError, match="1 to 256 sizes"):
        decode(encode(many))


def test_batches_in_batches_are_refused_without_recursing() -> None:
    frame = encode(Batch((Taken("j", 1, "w"),)))
    for _ in range(5000):
        frame = _frame(8, b'{"sizes":[%d]}' % len(frame), frame)
    with pytest.raises(ProtocolError, match="cannot hold a Batch"):
        decode(frame)


def test_tasks_split_into_one_task_per_chunk() -> None:
    chunks = (Chunk(0, None, 5, 5), Chunk(1, 5, None, 3))
    assert Tasks("j", "s", chunks).split() == [
        Task("j", "s", chunks[0]),
        Task("j", "s", chunks[1]),
    ]
