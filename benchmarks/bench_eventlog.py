"""Event-log reading: a >= 200 MB (uncompressed) zstd log, vs the limit and vs parsing every line.

The log is built once, deterministically, into ``.bench/eventlog/`` from a real one
(``tests/fixtures/spark-events/nds_q72_dataproc_2_2.zstd``, NDS query 72 on Dataproc): its header
once, then its body (jobs, stages, SQL plans, task starts and ends) repeated with new task ids and
times moved forward, then its end. It is zstd-compressed in several frames, as Spark writes it.

Measured in the same run, interleaved:

- the limit: decompress the file and read it to the end (zstandard's stream reader, 64 KiB
  reads, its fastest size here) — every reader pays at least this. Counting its lines on top was
  the limit before, but CPython's ``bytes.count`` is slower than iterating the lines, so that
  limit was not one;
- for information: decompress and hand every line to Python (``io.BufferedReader`` iteration);
- ``read_event_log`` (target: at least 0.5 of the limit's throughput);
- ``json.loads`` of every line after the same decompression (target: the reader >= 5x faster).

Peak memory is the peak RSS of a fresh process reading a quarter-size log and the full log (medians
of five processes each): the ratio must stay near 1 (the reader's memory does not grow with the log).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

from common import BENCH_HOME, interleaved

SOURCE = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "spark-events" / "nds_q72_dataproc_2_2.zstd"
)
TARGET_BYTES = 210 * 1024 * 1024
FRAME_BYTES = 8 * 1024 * 1024
ROUNDS = 3
_HEADER = ("LogStart", "EnvironmentUpdate", "ApplicationStart", "ResourceProfileAdded", "ExecutorAdded",
           "BlockManagerAdded")  # fmt: skip
_TIMES = re.compile(rb'"(Launch Time|Finish Time|Submission Time|Completion Time)":(\d+)')
_TASK_ID = re.compile(rb'"Task ID":(\d+)')


def build_log(path: Path, target_bytes: int) -> int:
    """Write the benchmark log (once; reused when it exists). Returns its uncompressed size."""
    import zstandard

    done = path.with_suffix(".size")
    if path.exists() and done.exists():
        return int(done.read_text())
    from airflow_emr_sizing.eventlog_codecs import decompressed_chunks

    with SOURCE.open("rb") as source:
        lines = b"".join(decompressed_chunks(source)).splitlines(keepends=True)
    kinds = [json.loads(line)["Event"].removeprefix("SparkListener") for line in lines]
    header = [line for line, kind in zip(lines, kinds, strict=True) if kind in _HEADER]
    tail = [line for line, kind in zip(lines, kinds, strict=True) if kind == "ApplicationEnd"]
    body = [
        line
        for line, kind in zip(lines, kinds, strict=True)
        if kind not in _HEADER and kind != "ApplicationEnd"
    ]
    times = [
        int(m.group(2)) for line in body for m in _TIMES.finditer(line) if m.group(1).endswith(b"h Time")
    ]
    span = max(times) - min(times) + 1000
    max_task = max(int(m.group(1)) for line in body for m in _TASK_ID.finditer(line)) + 1

    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as out:
        writer = zstandard.ZstdCompressor(level=1).stream_writer(out, closefd=False)
        pending = 0

        def emit(data: bytes) -> None:
            nonlocal written, pending
            writer.write(data)
            written += len(data)
            pending += len(data)
            if pending >= FRAME_BYTES:  # Spark's zstd stream ends a frame on each flush
                writer.flush(zstandard.FLUSH_FRAME)
                pending = 0

        for line in header:
            emit(line)
        cycle = 0
        while written < target_bytes:
            shift, ids = cycle * span, cycle * max_task

            def moved(m: re.Match[bytes], shift: int = shift) -> bytes:
                return b'"' + m.group(1) + b'":' + str(int(m.group(2)) + shift).encode()

            def renumbered(m: re.Match[bytes], ids: int = ids) -> bytes:
                return b'"Task ID":' + str(int(m.group(1)) + ids).encode()

            for line in body:
                emit(_TASK_ID.sub(renumbered, _TIMES.sub(moved, line)))
            cycle += 1
        end = str(max(times) + (cycle - 1) * span).encode()
        for line in tail:  # the application ends after its last repeat
            emit(re.sub(rb'"Timestamp":\d+', b'"Timestamp":' + end, line))
        writer.flush(zstandard.FLUSH_FRAME)
    done.write_text(str(written))
    return written


def read_limit(path: Path) -> int:
    """Decompress and read to the end: the least any reader of this file does."""
    import zstandard

    size = 0
    with path.open("rb") as source:
        reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
        while chunk := reader.read(1 << 16):
            size += len(chunk)
    return size


def iterate_lines(path: Path) -> int:
    """Decompress and hand every line to Python (what any line-by-line reader pays at least)."""
    import io

    import zstandard

    lines = 0
    with path.open("rb") as source:
        reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
        for _ in io.BufferedReader(reader, buffer_size=1 << 20):  # type: ignore[arg-type]
            lines += 1
    return lines


def read_json_every_line(path: Path) -> int:
    from airflow_emr_sizing.eventlog_codecs import decompressed_chunks

    events, carry = 0, b""
    with path.open("rb") as stream:
        for chunk in decompressed_chunks(stream):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            for line in lines:
                json.loads(line)
                events += 1
    return events


def read_package(path: Path) -> int:
    from airflow_emr_sizing.eventlog import read_event_log

    return read_event_log(str(path)).tasks


def peak_rss_mib(path: Path) -> float:
    """The reading process's own peak RSS: ``VmHWM`` of its address space.

    Not ``ru_maxrss``: Linux carries that over from the process image before ``exec``, i.e. from
    this (much larger) benchmark process at the moment it forked.
    """
    code = (
        "import re, sys; from airflow_emr_sizing.eventlog import read_event_log; "
        "read_event_log(sys.argv[1]); "
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> list[tuple[str, float, float, bool]]:
    root = BENCH_HOME / "eventlog"
    full = root / "app-bench-full.zstd"
    quarter = root / "app-bench-quarter.zstd"
    size = build_log(full, TARGET_BYTES)
    small = build_log(quarter, TARGET_BYTES // 4)
    mib = size / 2**20
    print(f"event log: {full} ({mib:.0f} MiB uncompressed, {full.stat().st_size / 2**20:.1f} MiB zstd)")

    # each ratio from its own interleaved pairing (medians of the same rounds)
    limit_s, reader_s = interleaved(lambda: read_limit(full), lambda: read_package(full), ROUNDS)
    json_s, reader_vs_json_s = interleaved(
        lambda: read_json_every_line(full), lambda: read_package(full), ROUNDS
    )
    lines_s, _ = interleaved(lambda: iterate_lines(full), lambda: read_package(full), ROUNDS)
    print(f"  decompress (the limit)     {limit_s:7.2f} s  {mib / limit_s:7.0f} MiB/s")
    print(f"  decompress + every line    {lines_s:7.2f} s  {mib / lines_s:7.0f} MiB/s  (informational)")
    print(f"  read_event_log             {reader_s:7.2f} s  {mib / reader_s:7.0f} MiB/s")
    print(f"  json.loads every line      {json_s:7.2f} s  {mib / json_s:7.0f} MiB/s")
    print(f"  read_event_log (paired with json.loads) {reader_vs_json_s:7.2f} s")
    # medians of 5: a run's peak is 28 or 32 MiB by how its threads happen to interleave
    rss_small = statistics.median(peak_rss_mib(quarter) for _ in range(5))
    rss_full = statistics.median(peak_rss_mib(full) for _ in range(5))
    print(
        f"  peak RSS: {rss_small:.0f} MiB reading {small / 2**20:.0f} MiB, "
        f"{rss_full:.0f} MiB reading {mib:.0f} MiB"
    )
    return [
        ("event log: reader throughput / decompression alone", limit_s / reader_s, 0.5, True),
        ("event log: json.loads every line / reader (speed-up)", json_s / reader_vs_json_s, 5.0, True),
        ("event log: peak RSS, full log / quarter-size log", rss_full / rss_small, 1.10, False),
    ]


if __name__ == "__main__":
    for name, ratio, target, at_least in main():
        print(f"{name:<55} {ratio:6.3f}x  (target {'>=' if at_least else '<='} {target:.2f}x)")
