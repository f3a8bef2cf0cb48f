"""The wire format: every message nngexport sends over NNG, and its strict decoder.

A frame is::

    b"NX"  version:u8  kind:u8  header_len:u32be  header  payload

``header`` is a UTF-8 JSON object whose keys and value types are fixed per
kind; ``payload`` is raw bytes and is only non-empty for :class:`Result` (the
rendered CSV) and :class:`Batch`. Keeping the CSV out of the JSON means a
chunk is never escaped, copied into a string, or parsed again.

Two kinds carry many messages in one frame, because over NNG each message
costs a round of wake-ups on both sides whatever its size: :class:`Tasks`
(several descriptors of one job and source, coordinator to worker) and
:class:`Batch` (several ``Taken``, ``Result`` and ``Failure`` frames, worker
to coordinator; its payload is those frames end to end, and its header their
sizes).

The decoder trusts nothing: an unknown magic, version or kind, a length that
does not add up, a header that is not a JSON object, a missing or extra key, a
value of the wrong type or out of range: each raises :class:`ProtocolError`,
and nothing else. Any peer can send any bytes, so no other exception may
escape :func:`decode`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from .errors import ProtocolError
from .plan import Chunk

MAGIC: Final = b"NX"
#: Bumped whenever a message's fields or meaning change.
VERSION: Final = 2

_PREFIX = struct.Struct(">2sBBI")
#: Longest JSON header a decoder accepts; headers are tiny, payloads are not.
MAX_HEADER_BYTES: Final = 64 * 1024
#: Longest string field (ids, URLs, error messages) a decoder accepts.
MAX_TEXT: Final = 4096
#: Most chunk indexes one survey answer may list.
MAX_INDEXES: Final = 4096
#: Most descriptors in one :class:`Tasks`, and most frames in one :class:`Batch`.
MAX_BATCH: Final = 256
_MAX_INT: Final = 2**63 - 1
_MIN_INT: Final = -(2**63)


@dataclass(frozen=True, slots=True)
class Survey:
    """Coordinator to workers: who is there? Also says where to fetch work.

    ``tasks`` and ``results`` are the URLs the coordinator listens on for its
    pipelines, as it bound them; a worker that reached the coordinator over
    tcp:// keeps the host it dialed and takes only the port (see
    :func:`nngexport.endpoints.resolve`).
    """

    job: str
    tasks: str
    results: str


@dataclass(frozen=True, slots=True)
class Hello:
    """Worker to coordinator, in answer to a survey: I am here, with this capacity.

    ``held`` lists the chunks of job ``job`` (the survey's) that the worker has
    taken and not yet answered; the answer renews their leases.
    """

    worker: str
    slots: int
    busy: int
    pid: int
    host: str
    job: str = ""
    held: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Task:
    """Coordinator to worker: render this chunk of this source for this job."""

    job: str
    source: str
    chunk: Chunk


@dataclass(frozen=True, slots=True)
class Tasks:
    """Coordinator to worker: render these chunks (1 to MAX_BATCH) of one source."""

    job: str
    source: str
    chunks: tuple[Chunk, ...]

    def split(self) -> list[Task]:
        """One :class:`Task` per chunk, in order."""
        return [Task(self.job, self.source, chunk) for chunk in self.chunks]


@dataclass(frozen=True, slots=True)
class Taken:
    """Worker to coordinator, on receiving a task: this chunk is mine now."""

    job: str
    index: int
    worker: str


@dataclass(frozen=True, slots=True)
class Result:
    """Worker to coordinator: the CSV bytes of one chunk (no header line)."""

    job: str
    index: int
    worker: str
    rows: int
    #: A decoded Result's data is a read-only view into the frame it came in.
    data: bytes | memoryview


@dataclass(frozen=True, slots=True)
class Failure:
    """Worker to coordinator: this chunk could not be rendered, and why."""

    job: str
    index: int
    worker: str
    error: str


@dataclass(frozen=True, slots=True)
class Batch:
    """Worker to coordinator: several replies (1 to MAX_BATCH) in one frame."""

    items: tuple[Taken | Result | Failure, ...]


Message = Survey | Hello | Task | Result | Failure | Taken | Tasks | Batch
_M = TypeVar("_M", bound=Message)

_KIND_OF: Final[dict[type[Any], int]] = {
    Survey: 1,
    Hello: 2,
    Task: 3,
    Result: 4,
    Failure: 5,
    Taken: 6,
    Tasks: 7,
    Batch: 8,
}
_BATCHED: Final = (Taken, Result, Failure)


def encode(message: Message) -> bytes:
    """Encode ``message`` as one frame."""
    kind = _KIND_OF[type(message)]
    payload: bytes | memoryview = b""
    header: dict[str, Any]
    match message:
        case Survey(job, tasks, results):
            header = {"job": job, "tasks": tasks, "results": results}
        case Hello(worker, slots, busy, pid, host, job, held):
            header = {
                "worker": worker,
                "slots": slots,
                "busy": busy,
                "pid": pid,
                "host": host,
                "job": job,
                "held": list(held),
            }
        case Taken(job, index, worker):
            header = {"job": job, "index": index, "worker": worker}
        case Task(job, source, chunk):
            header = {
                "job": job,
                "source": source,
                "index": chunk.index,
                "lo": chunk.lo,
                "hi": chunk.hi,
                "rows": chunk.rows,
            }
        case Result(job, index, worker, rows, data):
            header = {"job": job, "index": index, "worker": worker, "rows": rows}
            payload = data
        case Failure(job, index, worker, error):
            header = {"job": job, "index": index, "worker": worker, "error": error}
        case Tasks(job, source, chunks):
            header = {
                "job": job,
                "source": source,
                "chunks": [[c.index, c.lo, c.hi, c.rows] for c in chunks],
            }
        case Batch(items):
            return encode_batch([encode(item) for item in items])
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    return b"".join((_PREFIX.pack(MAGIC, VERSION, kind, len(raw)), raw, payload))


def encode_batch(frames: list[bytes]) -> bytes:
    """A :class:`Batch` of frames already encoded (each a Taken, Result or Failure)."""
    raw = json.dumps({"sizes": [len(frame) for frame in frames]}).encode()
    prefix = _PREFIX.pack(MAGIC, VERSION, _KIND_OF[Batch], len(raw))
    return b"".join((prefix, raw, *frames))


def decode(frame: bytes | bytearray | memoryview) -> Message:
    """Decode one frame, or raise :class:`ProtocolError` saying what is wrong."""
    frame = memoryview(frame)
    if len(frame) < _PREFIX.size:
        raise ProtocolError(f"frame of {len(frame)} bytes is shorter than a header")
    magic, version, kind, header_len = _PREFIX.unpack_from(frame)
    if magic != MAGIC:
        raise ProtocolError(f"frame does not start with {MAGIC!r}: {bytes(magic)!r}")
    if version != VERSION:
        raise ProtocolError(
            f"wire version {version} is not supported (this is version {VERSION});"
            " run the same nngexport version on coordinator and workers"
        )
    if header_len > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {header_len} bytes is too long")
    end = _PREFIX.size + header_len
    if end > len(frame):
        raise ProtocolError(
            f"header says {header_len} bytes but only {len(frame) - _PREFIX.size}"
            " follow"
        )
    try:
        header = json.loads(bytes(frame[_PREFIX.size : end]).decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"header is a {type(header).__name__}, not an object")
    payload = frame[end:]
    if kind not in (4, 8) and len(payload):
        raise ProtocolError(f"message kind {kind} carries no payload")
    fields = _Fields(header)
    if kind == 1:
        fields.expect("job", "tasks", "results")
        return Survey(fields.text("job"), fields.text("tasks"), fields.text("results"))
    if kind == 2:
        fields.expect("worker", "slots", "busy", "pid", "host", "job", "held")
        return Hello(
            fields.text("worker"),
            fields.integer("slots", low=1),
            fields.integer("busy", low=0),
            fields.integer("pid", low=0),
            fields.text("host"),
            fields.text("job"),
            fields.indexes("held"),
        )
    if kind == 3:
        fields.expect("job", "source", "index", "lo", "hi", "rows")
        chunk = _chunk(
            fields.integer("index", low=0),
            fields.optional_integer("lo"),
            fields.optional_integer("hi"),
            fields.integer("rows", low=0),
        )
        return Task(fields.text("job"), fields.text("source"), chunk)
    if kind == 7:
        fields.expect("job", "source", "chunks")
        return Tasks(fields.text("job"), fields.text("source"), fields.chunks("chunks"))
    if kind == 8:
        fields.expect("sizes")
        return Batch(_unbatch(fields.sizes("sizes"), payload))
    if kind == 4:
        fields.expect("job", "index", "worker", "rows")
        return Result(
            fields.text("job"),
            fields.integer("index", low=0),
            fields.text("worker"),
            fields.integer("rows", low=0),
            # A view into the frame, not a copy of it: the CSV is the bulk.
            payload.toreadonly(),
        )
    if kind == 5:
        fields.expect("job", "index", "worker", "error")
        return Failure(
            fields.text("job"),
            fields.integer("index", low=0),
            fields.text("worker"),
            fields.text("error"),
        )
    if kind == 6:
        fields.expect("job", "index", "worker")
        return Taken(
            fields.text("job"), fields.integer("index", low=0), fields.text("worker")
        )
    raise ProtocolError(f"unknown message kind {kind}")


def _chunk(index: int, lo: int | None, hi: int | None, rows: int) -> Chunk:
    if lo is not None and hi is not None and hi < lo:
        raise ProtocolError(f"task range is backwards: lo={lo!r} hi={hi!r}")
    return Chunk(index, lo, hi, rows)


def _unbatch(
    sizes: tuple[int, ...], payload: memoryview
) -> tuple[Taken | Result | Failure, ...]:
    if sum(sizes) != len(payload):
        raise ProtocolError(
            f"batch sizes add up to {sum(sizes)} bytes but {len(payload)} follow"
        )
    items: list[Taken | Result | Failure] = []
    start = 0
    for size in sizes:
        inner = payload[start : start + size]
        if len(inner) >= _PREFIX.size and inner[3] == _KIND_OF[Batch]:
            # Checked before decoding: batches in batches would recurse.
            raise ProtocolError("a batch cannot hold a Batch")
        item = decode(inner)
        if not isinstance(item, _BATCHED):
            raise ProtocolError(f"a batch cannot hold a {type(item).__name__}")
        items.append(item)
        start += size
    return tuple(items)


def decode_as(frame: bytes | bytearray | memoryview, kind: type[_M]) -> _M:
    """Decode one frame that must be a ``kind``, or raise ProtocolError."""
    message = decode(frame)
    if not isinstance(message, kind):
        raise ProtocolError(
            f"expected a {kind.__name__}, got a {type(message).__name__}"
        )
    return message


class _Fields:
    """Typed, checked access to a decoded JSON header."""

    def __init__(self, header: dict[str, Any]) -> None:
        self._header = header

    def expect(self, *names: str) -> None:
        if set(self._header) != set(names):
            missing = sorted(set(names) - set(self._header))
            extra = sorted(set(self._header) - set(names))
            raise ProtocolError(
                f"header fields wrong: missing {missing}, extra {extra}"
            )

    def text(self, name: str) -> str:
        value = self._header[name]
        if not isinstance(value, str):
            raise ProtocolError(f"field {name!r} must be a string, got {value!r:.80}")
        if len(value) > MAX_TEXT:
            raise ProtocolError(f"field {name!r} is {len(value)} characters long")
        return value

    def integer(self, name: str, *, low: int = _MIN_INT) -> int:
        value = self._header[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError(f"field {name!r} must be an integer, got {value!r:.80}")
        if not low <= value <= _MAX_INT:
            raise ProtocolError(f"field {name!r} is out of range: {value!r}")
        return value

    def indexes(self, name: str) -> tuple[int, ...]:
        value = self._header[name]
        if not isinstance(value, list) or len(value) > MAX_INDEXES:
            raise ProtocolError(
                f"field {name!r} must be a list of at most {MAX_INDEXES} indexes"
            )
        if not all(type(item) is int and 0 <= item <= _MAX_INT for item in value):
            raise ProtocolError(f"field {name!r} holds a bad index: {value!r:.80}")
        return tuple(value)

    def sizes(self, name: str) -> tuple[int, ...]:
        value = self._header[name]
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_BATCH:
            raise ProtocolError(
                f"field {name!r} must be a list of 1 to {MAX_BATCH} sizes"
            )
        if not all(type(item) is int and 0 < item <= _MAX_INT for item in value):
            raise ProtocolError(f"field {name!r} holds a bad size: {value!r:.80}")
        return tuple(value)

    def chunks(self, name: str) -> tuple[Chunk, ...]:
        value = self._header[name]
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_BATCH:
            raise ProtocolError(
                f"field {name!r} must be a list of 1 to {MAX_BATCH} chunks"
            )
        chunks = []
        for item in value:
            if not isinstance(item, list) or len(item) != 4:
                raise ProtocolError(
                    f"field {name!r} holds a bad chunk: {item!r:.80}"
                    " (expected [index, lo, hi, rows])"
                )
            parts = _Fields(dict(zip(("index", "lo", "hi", "rows"), item, strict=True)))
            chunks.append(
                _chunk(
                    parts.integer("index", low=0),
                    parts.optional_integer("lo"),
                    parts.optional_integer("hi"),
                    parts.integer("rows", low=0),
                )
            )
        return tuple(chunks)

    def optional_integer(self, name: str) -> int | None:
        if self._header[name] is None:
            return None
        return self.integer(name)
