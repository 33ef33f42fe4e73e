"""A deliberately plain event-log reader for the tests: json.loads every line, no shortcuts.

The package's reader skips lines and reads task ends by their keys; this one parses everything the
obvious way, so the tests can check the package's numbers against numbers computed independently.
Decompression here uses only zstandard (the shared real logs are zstd or plain); the other codecs
are checked by the lines they decode to.
"""

from __future__ import annotations

import io
import json
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
BUCKET_MS = 60_000


def zstd_or_plain_lines(path: Path) -> Iterator[str]:
    if path.is_dir():
        files = sorted(
            (p for p in path.iterdir() if p.name.startswith("events_")),
            key=lambda p: int(p.name.split("_")[1]),
        )
        for file in files:
            yield from zstd_or_plain_lines(file)
        return
    raw = path.read_bytes()
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw), read_across_frames=True)
        raw = reader.read()
    yield from raw.decode("utf-8").splitlines()


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    rank = 0.9 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def reference_summary(lines: list[str]) -> dict[str, Any]:  # noqa: C901 - plain on purpose
    events = [json.loads(line) for line in lines if line.strip()]
    alive: set[str] = set()
    most = 0
    added: dict[str, int] = {}
    removed: dict[str, int] = {}
    peak: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    tasks: list[tuple[str, int, int, float]] = []
    oom = False
    start = end = None
    last = 0
    props: dict[str, str] = {}
    for e in events:
        kind = e["Event"]
        if kind == "SparkListenerExecutorAdded" and e["Executor ID"] != "driver":
            alive.add(e["Executor ID"])
            added.setdefault(e["Executor ID"], e["Timestamp"])
            most = max(most, len(alive))
            last = max(last, e["Timestamp"])
        elif kind == "SparkListenerExecutorRemoved":
            alive.discard(e["Executor ID"])
            removed[e["Executor ID"]] = e["Timestamp"]
            last = max(last, e["Timestamp"])
            reason = e.get("Removed Reason", "")
            if "exit code 137" in reason or "code 52" in reason or "OOMKilled" in reason:
                oom = True
        elif kind == "SparkListenerStageExecutorMetrics" and e["Executor ID"] != "driver":
            for k, v in e["Executor Metrics"].items():
                peak[e["Executor ID"]][k] = max(peak[e["Executor ID"]][k], v)
        elif kind == "SparkListenerTaskEnd":
            info = e["Task Info"]
            executor = info["Executor ID"]
            reason = e["Task End Reason"]
            if (
                reason["Reason"] == "ExceptionFailure"
                and reason.get("Class Name") == "java.lang.OutOfMemoryError"
            ):
                oom = oom or executor != "driver"
            if reason["Reason"] == "ExecutorLostFailure" and "code 52" in reason.get("Loss Reason", ""):
                oom = True
            if executor == "driver":
                continue
            for k, v in (e.get("Task Executor Metrics") or {}).items():
                peak[executor][k] = max(peak[executor][k], v)
            cpu = (e.get("Task Metrics") or {}).get("Executor CPU Time", 0)
            last = max(last, info["Finish Time"])
            if cpu > 0:
                tasks.append((executor, info["Launch Time"], info["Finish Time"], cpu / 1e9))
        elif kind == "SparkListenerApplicationStart":
            start = e["Timestamp"]
        elif kind == "SparkListenerApplicationEnd":
            end = e["Timestamp"]
        elif kind == "SparkListenerEnvironmentUpdate":
            props.update(e["Spark Properties"])

    needs, heaps = [], []
    for m in peak.values():
        rss = m["ProcessTreeJVMRSSMemory"] + m["ProcessTreePythonRSSMemory"] + m["ProcessTreeOtherRSSMemory"]
        jvm = m["JVMHeapMemory"] + m["JVMOffHeapMemory"] + m["DirectPoolMemory"] + m["MappedPoolMemory"]
        if rss or jvm:
            needs.append(rss or jvm)
        if m["JVMHeapMemory"]:
            heaps.append(m["JVMHeapMemory"])

    finish = end if end is not None else last
    # CPU: every task's CPU seconds spread evenly over its run, per executor and minute.
    cpu_by: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    first_task: dict[str, int] = {}
    for executor, launch, done, seconds in tasks:
        first_task[executor] = min(first_task.get(executor, launch), launch)
        if done == launch:
            cpu_by[executor][launch // BUCKET_MS] += seconds
            continue
        for b in range(launch // BUCKET_MS, done // BUCKET_MS + 1):
            share = max(0, min(done, (b + 1) * BUCKET_MS) - max(launch, b * BUCKET_MS)) / (done - launch)
            cpu_by[executor][b] += seconds * share
    samples = []
    for executor, buckets in cpu_by.items():
        # An executor never announced by ExecutorAdded lives from the minute of its first task.
        born = added.get(executor, first_task[executor] // BUCKET_MS * BUCKET_MS)
        died = removed.get(executor, finish)
        if died <= born:
            continue
        threshold = min(15_000, (died - born) / 2)
        for b in range(born // BUCKET_MS, died // BUCKET_MS + 1):
            overlap = min(died, (b + 1) * BUCKET_MS) - max(born, b * BUCKET_MS)
            if overlap > 0 and overlap >= threshold:
                samples.append(buckets.get(b, 0.0) / (overlap / 1000))
    return {
        "executors": most,
        "executors_added": len(added),
        "peak_pod_memory_mib": math.ceil(max(needs) / MIB) if needs else None,
        "peak_heap_mib": math.ceil(max(heaps) / MIB) if heaps else None,
        "cpu_used_cores_p90": p90(samples) if samples else None,
        "oom": oom,
        "duration_s": (finish - start) / 1000 if start is not None and finish else None,
        "spark_conf": props,
        "app_name": next(
            (e["App Name"] for e in events if e["Event"] == "SparkListenerApplicationStart"), None
        ),
    }
