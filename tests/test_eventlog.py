"""The event-log reader against real Spark event logs, checked against an independent plain reader."""

from __future__ import annotations

import io
import json
import math
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cramjam
import pytest
from cli_runner import CliRunner
from eventlog_reference import reference_summary, zstd_or_plain_lines
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_emr_sizing.cli import main
from airflow_emr_sizing.eventlog import SIZING_KEYS, read_event_log, summarize_chunks
from airflow_emr_sizing.eventlog_codecs import (
    TruncatedStream,
    decompressed_chunks,
    lzf_decompress,
    read_ahead,
)
from airflow_emr_sizing.exceptions import EventLogError

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = FIXTURES / "spark-events"
OWN = FIXTURES / "eventlogs"
SHARED_LOGS = sorted(p for p in SHARED.iterdir() if p.name != "MANIFEST.md" and not p.name.startswith("."))
#: Spark's off-heap memory on, process-tree metrics off: its own test (the pod's need is the JVM's).
OFF_HEAP = OWN / "offheap_aggregation"
OWN_LOGS = sorted(p for p in OWN.iterdir() if p.is_dir() and p != OFF_HEAP)
#: Real lines, and the same lines cut and bent, for the fuzz test.
REAL_LINES = [
    variant
    for line in (SHARED / "application_1553914137147_0018").read_bytes().splitlines()[:40]
    for variant in (
        line,
        line[: len(line) // 2],
        line.replace(b'"Success"', b'"Oops"'),
        line.replace(b":", b":-"),
    )
]


def decoded_lines(path: Path) -> list[str]:
    """Lines of any fixture, decoded by the package's codec readers (checked separately)."""
    files = [path] if path.is_file() else sorted(path.rglob("*"))
    text = b""
    for file in files:
        if file.is_file() and not file.name.startswith(("appstatus", ".")):
            with file.open("rb") as stream:
                text += b"".join(decompressed_chunks(stream))
    return text.decode().splitlines()


def manifest() -> dict[str, list[str]]:
    rows = {}
    for line in (SHARED / "MANIFEST.md").read_text().splitlines():
        if line.startswith("| ") and not line.startswith("| file"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def assert_matches_reference(path: Path, lines: list[str]) -> None:
    expected = reference_summary(lines)
    got = read_event_log(str(path)).to_json()
    for key in ("executors", "executors_added", "peak_pod_memory_mib", "peak_heap_mib", "oom", "app_name"):
        assert got[key] == expected[key], (path.name, key)
    if expected["cpu_used_cores_p90"] is None:
        assert got["cpu_used_cores_p90"] is None
    else:
        assert got["cpu_used_cores_p90"] == pytest.approx(expected["cpu_used_cores_p90"], abs=0.001)
    assert got["duration_s"] == pytest.approx(expected["duration_s"])
    assert got["spark_conf"] == {
        k: expected["spark_conf"][k] for k in SIZING_KEYS if k in expected["spark_conf"]
    }


@pytest.mark.parametrize("path", SHARED_LOGS, ids=lambda p: p.name)
def test_public_spark_logs_match_the_plain_reader(path: Path) -> None:
    assert_matches_reference(path, list(zstd_or_plain_lines(path)))


@pytest.mark.parametrize("path", SHARED_LOGS, ids=lambda p: p.name)
def test_public_spark_logs_agree_with_the_manifest(path: Path) -> None:
    """The MANIFEST's columns were computed by whoever collected the logs: a third opinion."""
    rows = manifest()
    name = path.name if path.is_file() else f"{path.name}/events_1_{path.name[len('eventlog_v2_') :]}.zstd"
    row = rows[name]
    got = read_event_log(str(path))
    added, sem_heap, task_heap = int(row[4]), int(row[8]), int(row[10])
    assert got.executors_added == added
    heap = max(sem_heap, task_heap)
    if heap:
        assert got.peak_heap_mib in (heap, heap + 1)  # the manifest floors MiB, we round up
    if path.is_file() and "local" not in row[3]:
        assert round(got.cpu_time_s, 1) == pytest.approx(float(row[12]), abs=0.051)
    assert got.spark_version == (row[2] if row[2] != "None" else None)


@pytest.mark.parametrize("path", OWN_LOGS, ids=lambda p: p.name)
def test_own_local_spark_logs_match_the_plain_reader(path: Path) -> None:
    lines = decoded_lines(path)
    events = [json.loads(line)["Event"] for line in lines]
    # Decoded correctly: every line is an event, from the log's start to the application's end.
    assert events[0] == "SparkListenerLogStart" and "SparkListenerApplicationEnd" in events
    assert_matches_reference(path, lines)
    summary = read_event_log(str(path))
    assert summary.executors == 2  # local-cluster[2,1,1024]
    assert summary.memory_basis == "process_tree"
    assert summary.peak_pod_memory_mib and summary.peak_pod_memory_mib > summary.peak_heap_mib > 0
    assert summary.warnings == []


def test_sparks_off_heap_memory_counts_in_the_jvm_estimate_of_the_pod() -> None:
    """Tungsten's off-heap pages (Unsafe.allocateMemory) are in no JVM pool Spark reports."""
    metrics = ("JVMHeapMemory", "JVMOffHeapMemory", "DirectPoolMemory", "MappedPoolMemory")
    peaks: dict[str, dict[str, int]] = {}
    for line in decoded_lines(OFF_HEAP):
        event = json.loads(line)
        if event["Event"] == "SparkListenerStageExecutorMetrics":
            executor, values = event["Executor ID"], event["Executor Metrics"]
        elif event["Event"] == "SparkListenerTaskEnd":
            executor, values = event["Task Info"]["Executor ID"], event.get("Task Executor Metrics") or {}
        else:
            continue
        if executor != "driver":
            peak = peaks.setdefault(executor, {})
            for name, value in values.items():
                peak[name] = max(peak.get(name, 0), value)
    pools = max(sum(p.get(m, 0) for m in metrics) for p in peaks.values())
    need = max(sum(p.get(m, 0) for m in metrics) + p.get("OffHeapUnifiedMemory", 0) for p in peaks.values())

    summary = read_event_log(str(OFF_HEAP))

    assert summary.spark_conf["spark.memory.offHeap.enabled"] == "true"
    assert max(p.get("OffHeapUnifiedMemory", 0) for p in peaks.values()) >= 16 * 2**20  # really used
    assert summary.memory_basis == "jvm"
    assert summary.peak_pod_memory_mib == math.ceil(need / 2**20) > math.ceil(pools / 2**20)


def test_codec_fixtures_are_really_compressed_with_their_codec() -> None:
    heads = {p.name: next(f for f in sorted(p.rglob("*")) if f.is_file() and "appstatus" not in f.name)
             for p in OWN_LOGS}  # fmt: skip
    assert heads["aggregation_lz4"].read_bytes().startswith(b"LZ4Block")
    assert heads["aggregation_snappy"].read_bytes().startswith(b"\x82SNAPPY\x00")
    assert heads["aggregation_lzf"].read_bytes().startswith(b"ZV")
    assert heads["aggregation_zstd"].read_bytes().startswith(b"\x28\xb5\x2f\xfd")
    assert heads["aggregation"].read_bytes().startswith(b'{"Event":"SparkListenerLogStart"')
    assert heads["aggregation_rolling"].parent.name.startswith("eventlog_v2_")


def test_python_udf_memory_is_in_the_pod_peak() -> None:
    lines = decoded_lines(OWN / "python_udf")
    python_rss = max(
        json.loads(line)["Executor Metrics"]["ProcessTreePythonRSSMemory"]
        for line in lines
        if '"SparkListenerStageExecutorMetrics"' in line and '"Executor ID":"driver"' not in line
    )
    assert python_rss > 100 * 2**20  # the UDF held 150 MiB in each Python worker
    summary = read_event_log(str(OWN / "python_udf"))
    assert summary.peak_pod_memory_mib * 2**20 >= python_rss


def test_executor_oom_is_detected() -> None:
    summary = read_event_log(str(OWN / "executor_oom"))
    assert summary.oom is True
    assert any("OutOfMemoryError" in e or "code 52" in e for e in summary.oom_evidence)
    assert summary.failed_tasks >= 1


def test_gpu_oom_is_not_an_executor_memory_oom() -> None:
    summary = read_event_log(str(SHARED / "gpu_oom_eventlog.zstd"))
    assert summary.oom is False
    assert any("GPU out-of-memory" in w for w in summary.warnings)


def test_blind_spots_are_warnings() -> None:
    # Spark 3.3 on YARN without stage or process-tree metrics.
    warnings = read_event_log(str(SHARED / "join_agg_on_yarn_eventlog.zstd")).warnings
    assert any("spark.eventLog.logStageExecutorMetrics" in w for w in warnings)
    assert any("spark.executor.processTreeMetrics.enabled" in w for w in warnings)
    local = read_event_log(str(SHARED / "local-1642039451826")).warnings
    assert any("local mode" in w for w in local)


_K8S_LOSS = (
    "The executor with id 1 exited with exit code {code}.\n\n"
    "The API gave the following container statuses:\n\n\n"
    "\t container name: spark-kubernetes-executor\n\t container image: spark:3.5.1\n"
    "\t container state: terminated\n\t exit code: {code}\n\t termination reason: {reason}\n"
)


@pytest.mark.parametrize(
    ("class_name", "description", "oom"),
    [
        (
            "org.apache.spark.memory.SparkOutOfMemoryError",
            "[UNABLE_TO_ACQUIRE_MEMORY] Unable to acquire 65536 bytes of memory, got 0.",
            True,
        ),
        ("org.apache.spark.SparkException", "Job aborted: SparkOutOfMemoryError: Unable to acquire", True),
        ("java.lang.OutOfMemoryError", "Java heap space", True),
        ("java.io.IOException", "No space left on device", False),
    ],
)
def test_a_task_failing_for_want_of_executor_memory_is_an_oom(
    tmp_path: Path, class_name: str, description: str, oom: bool
) -> None:
    """Spark keeps the executor alive after a SparkOutOfMemoryError: the task's failure is the only trace."""
    failed = {
        "Event": "SparkListenerTaskEnd",
        "Stage ID": 0,
        "Stage Attempt ID": 0,
        "Task Type": "ResultTask",
        "Task End Reason": {
            "Reason": "ExceptionFailure",
            "Class Name": class_name,
            "Description": description,
            "Stack Trace": [],
            "Accumulator Updates": [],
        },
        "Task Info": {
            "Task ID": 1,
            "Index": 0,
            "Attempt": 0,
            "Launch Time": 1500,
            "Executor ID": "1",
            "Host": "h",
            "Finish Time": 1900,
            "Failed": True,
            "Killed": False,
            "Accumulables": [],
        },
    }
    lines = [
        '{"Event":"SparkListenerLogStart","Spark Version":"3.5.1"}',
        '{"Event":"SparkListenerApplicationStart","App Name":"a","App ID":"spark-1","Timestamp":1000}',
        '{"Event":"SparkListenerExecutorAdded","Timestamp":1000,"Executor ID":"1","Executor Info":{}}',
        json.dumps(failed, separators=(",", ":")),
    ]
    log = tmp_path / "app"
    log.write_text("\n".join(lines) + "\n")

    summary = read_event_log(str(log))

    assert summary.failed_tasks == 1
    assert summary.oom is oom


def test_oom_wordings_of_kubernetes_yarn_and_jvm(tmp_path: Path) -> None:
    base = [
        '{"Event":"SparkListenerLogStart","Spark Version":"3.5.1"}',
        '{"Event":"SparkListenerApplicationStart","App Name":"a","App ID":"spark-1","Timestamp":1000}',
        '{"Event":"SparkListenerExecutorAdded","Timestamp":1000,"Executor ID":"1","Executor Info":{}}',
    ]
    wordings = {
        "The executor with id 1 exited with exit code 137(SIGKILL, possible container OOM).": True,
        "The executor with id 1 exited with exit code 52(JVM OOM).": True,
        "Command exited with code 52": True,
        "Container killed by YARN for exceeding physical memory limits. 9.1 GB of 9 GB used.": True,
        "Pod reason: OOMKilled": True,
        "Executor killed by driver.": False,
        "Container exited with a non-zero exit code 1370": False,
        f"{_K8S_LOSS.format(code='137(SIGKILL, possible container OOM)', reason='OOMKilled')}": True,
        f"{_K8S_LOSS.format(code='52(JVM OOM)', reason='Error')}": True,
    }
    for wording, oom in wordings.items():
        removed = json.dumps(
            {
                "Event": "SparkListenerExecutorRemoved",
                "Timestamp": 2000,
                "Executor ID": "1",
                "Removed Reason": wording,
            }
        )
        log = tmp_path / "app"
        log.write_text("\n".join([*base, removed]) + "\n")
        assert read_event_log(str(log)).oom is oom, wording


def test_truncated_and_corrupt_logs_still_yield_what_was_read(tmp_path: Path) -> None:
    source = SHARED / "application_1553914137147_0018"
    whole = source.read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(whole[: len(whole) - 500])  # cut inside the last lines
    summary = read_event_log(str(cut))
    assert summary.executors == 3 and summary.peak_heap_mib == 940
    assert any("cut short" in w for w in summary.warnings)
    assert any("ApplicationEnd" in w for w in summary.warnings)

    lines = whole.split(b"\n")
    lines[5] = lines[5][:40]  # a corrupt line in the middle
    lines.insert(7, b"garbage")
    corrupt = tmp_path / "corrupt"
    corrupt.write_bytes(b"\n".join(lines))
    summary = read_event_log(str(corrupt))
    assert summary.executors == 3
    assert any("not Spark events" in w or "could not be read" in w for w in summary.warnings)

    in_progress = tmp_path / "app-1.inprogress"
    in_progress.write_bytes(whole[: len(whole) - 500])
    assert read_event_log(str(in_progress)).in_progress is True

    zstd = tmp_path / "cut.zstd"
    zstd.write_bytes((SHARED / "join_agg_on_yarn_eventlog.zstd").read_bytes()[:30_000])
    summary = read_event_log(str(zstd))
    assert summary.app_name is not None
    assert any("cut short" in w for w in summary.warnings)


def test_in_progress_rolling_log(tmp_path: Path) -> None:
    rolling = next((OWN / "aggregation_rolling").iterdir())
    copy = tmp_path / rolling.name
    copy.mkdir()
    for file in rolling.iterdir():
        name = file.name if not file.name.startswith("appstatus") else file.name + ".inprogress"
        (copy / name).write_bytes(file.read_bytes())
    summary = read_event_log(str(copy))
    assert summary.in_progress is True
    assert any("in progress" in w for w in summary.warnings)


def test_a_folder_with_one_application_is_read_and_several_are_refused(tmp_path: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    (one / "app-1").write_bytes((SHARED / "application_1553914137147_0018").read_bytes())
    for other in ("MANIFEST.md", "notes.txt", "_SUCCESS", ".app-1.crc"):  # no Spark writes these
        (one / other).write_text("not a log")
    assert read_event_log(str(one)).executors == 3
    (one / "app-2").write_bytes(b"{}\n")
    with pytest.raises(EventLogError, match="2 application logs"):
        read_event_log(str(one))
    with pytest.raises(EventLogError, match="no event log"):
        read_event_log(str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EventLogError, match="no event log under"):
        read_event_log(str(empty))


def test_the_cli_reads_one_application_and_names_them_in_a_folder_of_several(tmp_path: Path) -> None:
    """The contract prints one application's usage: combining attempts is the operator's business."""
    (tmp_path / "app-1").write_bytes((OWN / "aggregation" / "app-20261124100944-0000").read_bytes())
    (tmp_path / "app-2").write_bytes((OWN / "python_udf" / "app-20261124101353-0000").read_bytes())

    result = CliRunner().invoke(main, ["eventlog", str(tmp_path), "--format", "json"])

    assert result.exit_code != 0
    assert f"2 application logs under {tmp_path} (app-1, app-2); give one of them" in result.output


def test_cli_text_says_how_many_tasks_failed() -> None:
    path = SHARED / "application_1538416563558_0014"  # executors lost, their tasks failed
    ends = [e for e in map(json.loads, zstd_or_plain_lines(path)) if e["Event"] == "SparkListenerTaskEnd"]
    failed = [e for e in ends if e["Task End Reason"]["Reason"] != "Success"]

    result = CliRunner().invoke(main, ["eventlog", str(path)])

    assert result.exit_code == 0, result.output
    assert failed and f" over {len(ends)} tasks, {len(failed)} failed)" in result.output


def test_cli_text_of_a_run_without_executors_says_so() -> None:
    """In local mode the driver runs every task: there is no executor usage to show."""
    result = CliRunner().invoke(main, ["eventlog", str(SHARED / "eventlog_v2_local-1623876083964")])

    assert result.exit_code == 0, result.output
    assert "executors      0 at once (0 added)  [a local-mode run, or a log cut short]" in result.output
    assert "CPU s of executors over" in result.output


def test_cli_json_is_the_contract_object_and_feeds_backtest() -> None:
    path = SHARED / "application_1553914137147_0018"
    result = CliRunner().invoke(main, ["eventlog", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    expected = reference_summary(list(zstd_or_plain_lines(path)))
    assert got["app_id"] == "application_1553914137147_0018"
    assert got["spark_version"] == "3.0.0-SNAPSHOT"
    assert got["executors"] == expected["executors"] == 3
    assert got["peak_pod_memory_mib"] == expected["peak_pod_memory_mib"]
    assert got["spark_conf"]["spark.executor.memory"] == "7g"
    assert isinstance(got["warnings"], list)
    # minus app_id/spark_version, plus run_id and started_at: a run-history line
    history = {k: v for k, v in got.items() if k not in ("app_id", "spark_version")}
    history.update(run_id="jr-1", started_at=got["started_at"])
    assert history["started_at"].endswith("+00:00") and isinstance(history["duration_s"], float)


@pytest.mark.integration
def test_cli_reads_s3_through_the_amazon_provider(moto_emr: Any) -> None:
    """moto serves S3; the reader goes through S3Hook (AWS_ENDPOINT_URL points boto3 at moto)."""
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_emr.endpoint)
    s3.create_bucket(Bucket="cli-logs")
    rolling = next((OWN / "aggregation_rolling").iterdir())
    for file in rolling.iterdir():
        s3.put_object(Bucket="cli-logs", Key=f"runs/7/{rolling.name}/{file.name}", Body=file.read_bytes())
    expected = read_event_log(str(rolling)).to_json()

    for url in (f"s3://cli-logs/runs/7/{rolling.name}", "s3://cli-logs/runs/7/"):
        result = CliRunner().invoke(main, ["eventlog", url, "--format", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == expected

    missing = CliRunner().invoke(main, ["eventlog", "s3://cli-logs/runs/8/"])
    assert missing.exit_code != 0 and "no event log at s3://cli-logs/runs/8/" in missing.output


@settings(max_examples=80, deadline=None)
@given(st.lists(st.binary(max_size=300) | st.sampled_from(REAL_LINES), max_size=30))
def test_any_garbage_yields_a_summary_never_an_exception(lines: list[bytes]) -> None:
    summary = summarize_chunks([b"\n".join(lines)])
    assert summary.executors >= 0 and isinstance(summary.warnings, list)


def test_cli_text_and_errors() -> None:
    runner = CliRunner()
    text = runner.invoke(main, ["eventlog", str(SHARED / "gpu_oom_eventlog.zstd")])
    assert text.exit_code == 0 and "executors      2 at once" in text.output
    missing = runner.invoke(main, ["eventlog", "/no/such/log"])
    assert missing.exit_code != 0 and "no event log at /no/such/log" in missing.output


@pytest.mark.parametrize(
    "content",
    [b"", b"# Title\n\nSome *markdown*, not a log.\n", bytes(range(256)) * 8, b'{"Event":"NotSpark"}\n'],
    ids=["empty", "markdown", "random-bytes", "json-but-not-spark"],
)
def test_cli_input_without_any_spark_event_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.md"
    path.write_bytes(content)

    result = CliRunner().invoke(main, ["eventlog", str(path), "--format", "json"])

    assert result.exit_code == 1 and result.stdout == ""
    assert f"no Spark listener events in {path}: not a Spark event log" in result.output
    assert read_event_log(str(path)).events == 0  # the reader itself still answers, with warnings


def test_cli_an_in_progress_log_with_a_few_events_still_succeeds(tmp_path: Path) -> None:
    head = (SHARED / "application_1553914137147_0018").read_bytes().split(b"\n")[:3]
    in_progress = tmp_path / "app-2.inprogress"
    in_progress.write_bytes(b"\n".join(head) + b"\n")

    result = CliRunner().invoke(main, ["eventlog", str(in_progress), "--format", "json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["in_progress"] is True


# -- codecs: framing read exactly as Spark's libraries write it ------------------------------------


def lz4_java_stream(data: bytes, block: int) -> bytes:
    """What lz4-java's LZ4BlockOutputStream writes (checksums are not checked by the reader)."""
    out = b""
    for i in range(0, len(data), block):
        raw = data[i : i + block]
        packed = bytes(cramjam.lz4.compress_block(raw, store_size=False))
        token, body = (0x20, packed) if len(packed) < len(raw) else (0x10, raw)
        out += b"LZ4Block" + struct.pack("<BIII", token | 6, len(body), len(raw), 0) + body
    return out + b"LZ4Block" + struct.pack("<BIII", 0x10, 0, 0, 0)


def snappy_java_stream(data: bytes, block: int) -> bytes:
    out = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
    for i in range(0, len(data), block):
        packed = bytes(cramjam.snappy.compress_raw(data[i : i + block]))
        out += struct.pack(">i", len(packed)) + packed
    return out


def lzf_literal_stream(data: bytes) -> bytes:
    """LZF chunks holding literal runs only (a valid, if uncompressed, encoding)."""
    out = b""
    for i in range(0, len(data), 60):
        piece = data[i : i + 60]
        body = b"".join(
            bytes([len(piece[j : j + 32]) - 1]) + piece[j : j + 32] for j in range(0, len(piece), 32)
        )
        out += b"ZV\x01" + struct.pack(">HH", len(body), len(piece)) + body
    return out


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=3000), st.integers(min_value=1, max_value=700))
def test_lz4_and_snappy_framings_roundtrip(data: bytes, block: int) -> None:
    for stream in (lz4_java_stream(data, block), snappy_java_stream(data, block)):
        assert b"".join(decompressed_chunks(io.BytesIO(stream))) == data
        with pytest.raises(TruncatedStream):
            b"".join(decompressed_chunks(io.BytesIO(stream[:-1])))


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=2000))
def test_lzf_literal_chunks_roundtrip(data: bytes) -> None:
    assert b"".join(decompressed_chunks(io.BytesIO(b"ZV" + lzf_literal_stream(data)[2:]))) == data


def test_read_ahead_keeps_order_raises_after_what_came_before_and_stops_early() -> None:
    produced: list[int] = []

    def chunks(fail_at: int | None) -> Iterator[bytes]:
        for i in range(50):
            if i == fail_at:
                raise TruncatedStream(f"cut at {i}")
            produced.append(i)
            yield str(i).encode()

    assert list(read_ahead(chunks(None))) == [str(i).encode() for i in range(50)]
    seen: list[bytes] = []
    with pytest.raises(TruncatedStream, match="cut at 7"):
        for chunk in read_ahead(chunks(7)):
            seen.append(chunk)
    assert seen == [str(i).encode() for i in range(7)]

    produced.clear()
    ahead = read_ahead(chunks(None), depth=2)
    assert next(ahead) == b"0"
    ahead.close()  # the consumer stops: the producer stops too, a bounded way ahead
    assert len(produced) <= 5
    assert not [t for t in threading.enumerate() if t.name == "emr-sizing-read-ahead"]


def test_a_failing_reader_stops_the_read_ahead_thread_before_the_file_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_emr_sizing import eventlog

    def broken(*args: Any) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(eventlog._Summarizer, "feed", broken)
    with pytest.raises(RuntimeError, match="parser bug"):
        read_event_log(str(SHARED / "application_1553914137147_0018"))
    assert not [t for t in threading.enumerate() if t.name == "emr-sizing-read-ahead"]


def test_lzf_back_references() -> None:
    # "abc" literal, then a back-reference of length 7 (3 + 2 + ... ) at distance 3: overlapping copy.
    block = bytes([2]) + b"abc" + bytes([(5 << 5) | 0, 2])
    assert lzf_decompress(block, 10) == b"abcabcabca"
    with pytest.raises(TruncatedStream):
        lzf_decompress(bytes([(1 << 5) | 0, 9]), 3)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_summary(cuts: list[int]) -> None:
    data = (SHARED / "application_1553914137147_0018").read_bytes()
    positions = sorted({min(sum(cuts[: i + 1]) * 7, len(data)) for i in range(len(cuts))})
    pieces = [data[a:b] for a, b in zip([0, *positions], [*positions, len(data)], strict=True)]
    whole = summarize_chunks([data]).to_json()
    assert summarize_chunks(pieces).to_json() == whole
    assert whole["executors"] == 3 and math.isclose(whole["duration_s"], 62.168)


@pytest.mark.parametrize("cut", [3, 5, 20])
def test_an_event_name_that_never_ends_is_a_bad_line_wherever_the_chunk_ends(cut: int) -> None:
    bad = b'{"Event":"SparkListenerExecutorAdded\n'
    good = b'{"Event":"SparkListenerLogStart","Spark Version":"3.5.0"}\n'
    whole = summarize_chunks([bad + good])
    split = summarize_chunks([bad[:cut], bad[cut:] + good])

    assert whole.to_json() == split.to_json()
    assert any("could not be read" in w for w in whole.warnings)
    assert whole.spark_version == "3.5.0"
