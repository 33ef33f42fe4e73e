"""Decompress Spark event logs as streams, in the framings Spark's codecs really write.

Spark's event-log codecs are not the standard file formats of their algorithms:

- ``zstd``: zstd-jni writes standard frames, but several per file (one per flush) — decoded across
  frames.
- ``lz4``: lz4-java's ``LZ4BlockOutputStream``: blocks of ``LZ4Block`` magic, a token byte (high
  nibble 0x10 raw / 0x20 LZ4), little-endian int32 compressed length, decompressed length and
  checksum, then the block; a block of decompressed length 0 ends the stream.
- ``snappy``: snappy-java's ``SnappyOutputStream``: ``\\x82SNAPPY\\x00`` and two big-endian int32
  (version, compatible version), then big-endian int32 length + raw snappy block, repeated.
- ``lzf``: ning compress-lzf's ``LZFOutputStream``: chunks of ``ZV``, a type byte (0 stored,
  1 compressed), big-endian uint16 length (and uncompressed length when compressed), the data.

Each reader yields decompressed byte chunks and never holds the whole log. The codec is recognised
from the first bytes, so a file's name does not matter. A stream cut short (a log still being
written, a truncated upload) ends with :class:`TruncatedStream` after every complete chunk has been
yielded.
"""

from __future__ import annotations

import queue
import struct
import threading
from collections.abc import Generator, Iterator
from typing import IO, BinaryIO, cast

__all__ = ["CHUNK_BYTES", "CODECS", "TruncatedStream", "decompressed_chunks", "read_ahead", "sniff_codec"]

#: Bytes read at a time, from the source and (zstd) of decompressed output: the read-ahead keeps
#: at most a few such chunks in memory.
CHUNK_BYTES = 1 << 20
CODECS = ("plain", "zstd", "lz4", "snappy", "lzf")

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_LZ4_MAGIC = b"LZ4Block"
_SNAPPY_MAGIC = b"\x82SNAPPY\x00"
_LZF_MAGIC = b"ZV"
_LZ4_HEADER = struct.Struct("<BIII")  # token, compressed length, decompressed length, checksum
_LZ4_RAW, _LZ4_COMPRESSED = 0x10, 0x20


class TruncatedStream(Exception):
    """The compressed stream ended inside a block, or a block is corrupt."""


def sniff_codec(head: bytes) -> str:
    """The codec of a stream from its first bytes (an empty stream is ``plain``)."""
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    if head.startswith(_LZ4_MAGIC):
        return "lz4"
    if head.startswith(_SNAPPY_MAGIC):
        return "snappy"
    if head.startswith(_LZF_MAGIC):
        return "lzf"
    return "plain"


def decompressed_chunks(source: BinaryIO) -> Iterator[bytes]:
    """Yield the decompressed bytes of an event-log stream, in order, chunk by chunk."""
    reader = _Reader(source)
    codec = sniff_codec(reader.peek(8))
    if codec == "zstd":
        yield from _zstd(reader)
    elif codec == "lz4":
        yield from _lz4(reader)
    elif codec == "snappy":
        yield from _snappy(reader)
    elif codec == "lzf":
        yield from _lzf(reader)
    else:
        while chunk := reader.read(CHUNK_BYTES):
            yield chunk


def read_ahead(chunks: Iterator[bytes], depth: int = 2) -> Generator[bytes, None, None]:
    """Yield ``chunks`` while a thread already produces the next ones.

    Reading S3 and decompressing (zstandard, cramjam) release the GIL, so the next chunk is fetched
    and decompressed while this one is parsed: a log is read in about the time of the slower of
    the two, not their sum. At most ``depth`` chunks wait, so memory stays bounded. The producer's
    errors (a truncated stream) are raised here after every chunk before them; a consumer that
    stops early stops the producer before returning.
    """
    slots: queue.Queue[tuple[bytes | None, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def offer(item: tuple[bytes | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not offer((chunk, None)):
                    return
            offer((None, None))
        except BaseException as err:  # handed to the consumer, raised there
            offer((None, err))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    producer = threading.Thread(target=produce, name="emr-sizing-read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            chunk, error = slots.get()
            if error is not None:
                raise error
            if chunk is None:
                return
            yield chunk
    finally:
        stop.set()
        producer.join()


class _Reader:
    """Exact-size reads over a stream whose ``read`` may return less (S3 bodies, sockets)."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._pending = b""

    def peek(self, size: int) -> bytes:
        if len(self._pending) < size:
            self._pending += self.read_exact(size - len(self._pending), allow_short=True)
        return self._pending[:size]

    def unread(self, data: bytes) -> None:
        self._pending = data + self._pending

    def read(self, size: int) -> bytes:
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        return self._source.read(size) or b""

    def read_exact(self, size: int, *, allow_short: bool = False) -> bytes:
        parts, missing = [], size
        while missing > 0:
            part = self.read(missing)
            if not part:
                break
            parts.append(part)
            missing -= len(part)
        data = b"".join(parts)
        if missing and not allow_short and data:
            raise TruncatedStream(f"stream ended {missing} bytes into a {size}-byte read")
        return data


def _zstd(reader: _Reader) -> Iterator[bytes]:
    import zstandard

    stream = zstandard.ZstdDecompressor().stream_reader(cast(IO[bytes], reader), read_across_frames=True)
    try:
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk
    except zstandard.ZstdError as err:
        raise TruncatedStream(f"zstd: {err}") from err


def _lz4(reader: _Reader) -> Iterator[bytes]:
    import cramjam

    while True:
        magic = reader.read_exact(len(_LZ4_MAGIC))
        if not magic:
            return  # no end block: the writer has not closed the stream (in progress)
        if magic != _LZ4_MAGIC:
            raise TruncatedStream("lz4: bad block magic")
        token, compressed, size, _checksum = _LZ4_HEADER.unpack(reader.read_exact(_LZ4_HEADER.size))
        if size == 0:
            if reader.peek(len(_LZ4_MAGIC)) == _LZ4_MAGIC:
                continue  # a second stream appended to the first
            return
        block = reader.read_exact(compressed)
        if len(block) < compressed:
            raise TruncatedStream("lz4: stream ended inside a block")
        method = token & 0xF0
        if method == _LZ4_RAW:
            yield block
        elif method == _LZ4_COMPRESSED:
            try:
                yield bytes(cramjam.lz4.decompress_block(block, output_len=size))
            except cramjam.DecompressionError as err:
                raise TruncatedStream(f"lz4: {err}") from err
        else:
            raise TruncatedStream(f"lz4: unknown block method {method:#x}")


def _snappy(reader: _Reader) -> Iterator[bytes]:
    import cramjam

    while True:
        header = reader.read_exact(len(_SNAPPY_MAGIC) + 8)
        if not header:
            return
        if not header.startswith(_SNAPPY_MAGIC):
            raise TruncatedStream("snappy: bad stream header")
        while (length_bytes := reader.read_exact(4)) and not length_bytes.startswith(b"\x82SNA"):
            (length,) = struct.unpack(">i", length_bytes)
            block = reader.read_exact(length)
            if len(block) < length:
                raise TruncatedStream("snappy: stream ended inside a block")
            try:
                yield bytes(cramjam.snappy.decompress_raw(block))
            except cramjam.DecompressionError as err:
                raise TruncatedStream(f"snappy: {err}") from err
        if not length_bytes:
            return
        # A concatenated stream starts again with its own header (4 bytes of it already read).
        reader.unread(length_bytes)


def _lzf(reader: _Reader) -> Iterator[bytes]:
    while True:
        header = reader.read_exact(5)
        if not header:
            return
        if header[:2] != _LZF_MAGIC:
            raise TruncatedStream("lzf: bad chunk header")
        kind, length = header[2], int.from_bytes(header[3:5], "big")
        if kind == 0:
            data = reader.read_exact(length)
            if len(data) < length:
                raise TruncatedStream("lzf: stream ended inside a chunk")
            yield data
        elif kind == 1:
            size = int.from_bytes(reader.read_exact(2), "big")
            data = reader.read_exact(length)
            if len(data) < length:
                raise TruncatedStream("lzf: stream ended inside a chunk")
            yield lzf_decompress(data, size)
        else:
            raise TruncatedStream(f"lzf: unknown chunk type {kind}")


def lzf_decompress(data: bytes, size: int) -> bytes:
    """Decode one raw LZF block (liblzf's format) of ``size`` decompressed bytes.

    LZF is rare in event logs (Spark's default codec is zstd), so a plain loop is enough.
    """
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        control = data[i]
        i += 1
        if control < 32:  # a literal run of control + 1 bytes
            end = i + control + 1
            if end > n:
                raise TruncatedStream("lzf: literal run past the block end")
            out += data[i:end]
            i = end
            continue
        length = control >> 5
        if length == 7:
            if i >= n:
                raise TruncatedStream("lzf: back-reference past the block end")
            length += data[i]
            i += 1
        if i >= n:
            raise TruncatedStream("lzf: back-reference past the block end")
        start = len(out) - ((control & 0x1F) << 8) - data[i] - 1
        i += 1
        if start < 0:
            raise TruncatedStream("lzf: back-reference before the block start")
        for k in range(length + 2):  # may overlap its own output
            out.append(out[start + k])
    if len(out) != size:
        raise TruncatedStream(f"lzf: block decoded to {len(out)} bytes, header says {size}")
    return bytes(out)
