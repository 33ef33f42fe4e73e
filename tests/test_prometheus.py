"""The Prometheus/AMP source against a real Prometheus server loaded with known series."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import types
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from airflow_emr_sizing.prometheus import (
    PrometheusError,
    PrometheusSource,
    label_name,
    promql_string,
    sign_aws_request,
)

pytestmark = pytest.mark.integration
MIB = 2**20
HOSTILE = 'x"} or vector(1) or {a="\\'
#: The job ran from START for 40 minutes; the data starts 10 minutes before and ends 10 after.
START = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=3)
END = START + timedelta(minutes=40)
STEP = 15


def _pod(
    name: str, signature: str, *, job: str = "jr-1", memory_mib: list[int], cores: float
) -> dict[str, Any]:
    return {"pod": name, "signature": signature, "job": job, "memory_mib": memory_mib, "cores": cores}


PODS = [
    # the run under test: two executors, one busier, one that peaks at 3000 MiB
    _pod("etl-exec-1", "s1-target", memory_mib=[1000, 2500, 3000, 1200], cores=1.0),
    _pod("etl-exec-2", "s1-target", memory_mib=[900, 1800, 2000, 1500], cores=2.0),
    # another signature on the same cluster, bigger: must never be counted
    _pod("other-exec-1", "s1-other", job="jr-2", memory_mib=[8000, 9000, 9500, 9000], cores=3.5),
    # a pod whose label value is hostile PromQL
    _pod("hostile-exec-1", HOSTILE, job="jr-3", memory_mib=[100, 200, 300, 250], cores=0.5),
]
OOM_POD = "etl-exec-2"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics() -> str:
    """Known series at 15 s intervals, grouped by family as OpenMetrics requires."""
    first = START - timedelta(minutes=10)
    times = [first + timedelta(seconds=STEP * i) for i in range(int(3600 / STEP))]
    times = [t for t in times if t <= END + timedelta(minutes=10)]
    families: dict[str, list[str]] = {name: [] for name in (
        "kube_pod_labels", "container_memory_working_set_bytes", "container_cpu_usage_seconds_total",
        "kube_pod_container_status_terminated_reason")}  # fmt: skip
    for pod in PODS:
        ids = f'namespace="dw",pod="{pod["pod"]}"'
        labels = (
            f'{ids},label_emr_sizing_signature="{_escape(pod["signature"])}",'
            f'label_emr_containers_amazonaws_com_job_id="{pod["job"]}",label_spark_role="executor"'
        )
        container = f'{ids},container="spark-kubernetes-executor"'
        used = 0.0
        for t in times:
            ts = f"{t.timestamp():.3f}"
            if not START <= t <= END:
                continue  # the pods exist only while the job runs
            quarter = min(3, int((t - START).total_seconds() // 600))
            families["kube_pod_labels"].append(f"kube_pod_labels{{{labels}}} 1 {ts}")
            memory = pod["memory_mib"][quarter] * MIB
            families["container_memory_working_set_bytes"].append(
                f"container_memory_working_set_bytes{{{container}}} {memory} {ts}"
            )
            families["container_cpu_usage_seconds_total"].append(
                f"container_cpu_usage_seconds_total{{{container}}} {used:.3f} {ts}"
            )
            used += pod["cores"] * STEP
            reason = 1 if pod["pod"] == OOM_POD and t >= END - timedelta(minutes=2) else 0
            families["kube_pod_container_status_terminated_reason"].append(
                f'kube_pod_container_status_terminated_reason{{{container},reason="OOMKilled"}} {reason} {ts}'
            )
    lines = []
    for name, samples in families.items():
        lines.append(f"# TYPE {name} gauge")
        lines.extend(samples)
    return "\n".join([*lines, "# EOF", ""])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus serving the series above; fails in CI if the binary is missing."""
    binary, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not binary or not promtool:
        if os.environ.get("CI"):
            pytest.fail("prometheus/promtool not installed (CI installs the Debian package in .ci/run)")
        pytest.skip("prometheus not installed: apt-get install prometheus")
    root: Path = tmp_path_factory.mktemp("prometheus")
    (root / "data.om").write_text(openmetrics())
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(root / "data.om"), str(root / "tsdb")],
        check=True,
        capture_output=True,
    )
    (root / "prometheus.yml").write_text("global: {}\n")
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=30d",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((root / "log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def expected_peak_mib(signature: str) -> int:
    return max(max(p["memory_mib"]) for p in PODS if p["signature"] == signature)


def test_usage_of_one_signature(prometheus: str) -> None:
    usage = PrometheusSource(prometheus).usage("s1-target", START, END)

    assert usage.pods == 2
    assert usage.peak_pod_memory_mib == expected_peak_mib("s1-target") == 3000
    # One pod at 1 core, one at 2 cores, pooled per minute: the 90th percentile is 2 cores.
    assert usage.cpu_used_cores_p90 == pytest.approx(2.0, abs=0.05)
    assert usage.oom is True and usage.oom_pods == (OOM_POD,)


def test_other_signatures_never_leak_in(prometheus: str) -> None:
    usage = PrometheusSource(prometheus).usage("s1-other", START, END)
    assert usage.peak_pod_memory_mib == 9500 and usage.oom is False
    assert usage.cpu_used_cores_p90 == pytest.approx(3.5, abs=0.05)


def test_hostile_label_values_are_literals(prometheus: str) -> None:
    usage = PrometheusSource(prometheus).usage(HOSTILE, START, END)
    assert usage.pods == 1 and usage.peak_pod_memory_mib == expected_peak_mib(HOSTILE) == 300
    with pytest.raises(PrometheusError, match="no executor pods"):
        PrometheusSource(prometheus).usage('s1-target"} or vector(1e12) #', START, END)


def test_job_id_label_narrows_to_one_run(prometheus: str) -> None:
    source = PrometheusSource(prometheus, job_id_label_key="emr-containers.amazonaws.com/job.id")
    assert source.usage("s1-target", START, END, job_id="jr-1").pods == 2
    with pytest.raises(PrometheusError, match="no executor pods"):
        source.usage("s1-target", START, END, job_id="jr-999")


def test_window_outside_the_run_finds_nothing(prometheus: str) -> None:
    with pytest.raises(PrometheusError, match="no executor pods"):
        PrometheusSource(prometheus).usage("s1-target", END + timedelta(hours=1), END + timedelta(hours=2))


def test_label_not_exported_by_kube_state_metrics_is_explained(prometheus: str) -> None:
    with pytest.raises(PrometheusError, match=r"--metric-labels-allowlist=pods=\[team-sizing\]"):
        PrometheusSource(prometheus, label_key="team-sizing").usage("s1-target", START, END)


def test_unreachable_server_times_out_with_a_clear_error() -> None:
    with socket.socket() as listener:  # accepts connections but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(PrometheusError, match="timed out"):
            PrometheusSource(url, timeout=0.5).usage("s1-target", START, END)
        assert time.monotonic() - started < 5


def test_promql_strings_and_label_names() -> None:
    assert promql_string('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert label_name("emr-sizing-signature") == "label_emr_sizing_signature"
    assert label_name("emr-containers.amazonaws.com/job.id") == "label_emr_containers_amazonaws_com_job_id"


# -- AMP: SigV4 ------------------------------------------------------------------------------------


def _signing_clock(now: datetime) -> Any:
    """botocore's signer reading ``now`` as the time."""
    import datetime as datetime_module

    import botocore.auth

    if hasattr(botocore.auth, "get_current_datetime"):
        return mock.patch("botocore.auth.get_current_datetime", return_value=now)

    class Frozen(datetime):  # botocore before 1.40 calls datetime.datetime.utcnow()
        @classmethod
        def utcnow(cls) -> datetime:
            return now

    clock = types.SimpleNamespace(**{**vars(datetime_module), "datetime": Frozen})
    return mock.patch("botocore.auth.datetime", clock)


def test_sigv4_matches_the_aws_test_suite_vector() -> None:
    """AWS's published SigV4 test suite, case ``get-vanilla`` (recorded signature)."""
    from botocore.credentials import Credentials

    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    with _signing_clock(datetime(2015, 8, 30, 12, 36, 0)):
        headers = sign_aws_request(
            "GET", "https://example.amazonaws.com/", b"", {}, "us-east-1", credentials, service="service"
        )
    assert headers["X-Amz-Date"] == "20150830T123600Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_amp_requests_are_signed_for_aps_in_the_workspace_region(prometheus: str) -> None:
    """Prometheus ignores the signature, so the signed request must still be a valid query."""
    from botocore.credentials import Credentials

    seen: list[dict[str, str]] = []
    real = sign_aws_request

    def spy(*args: Any, **kwargs: Any) -> dict[str, str]:
        headers = real(*args, **kwargs)
        seen.append(headers)
        return headers

    source = PrometheusSource(prometheus, sign=True, aws_region="ap-northeast-2")
    with (
        mock.patch("airflow_emr_sizing.prometheus.sign_aws_request", side_effect=spy),
        mock.patch.object(PrometheusSource, "_credentials", return_value=Credentials("AKID", "SECRET")),
    ):
        assert source.usage("s1-target", START, END).peak_pod_memory_mib == 3000
    assert seen and all("/ap-northeast-2/aps/aws4_request" in h["Authorization"] for h in seen)
    amp = PrometheusSource("https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1")
    assert amp.is_amp and amp._region() == "eu-west-1"


def test_prometheus_evidence_of_the_run_wins_over_the_event_log(prometheus: str) -> None:
    from airflow_emr_sizing.collect import UsageSources, gather_usage
    from airflow_emr_sizing.store import Observation

    outcome = Observation(
        job_id="jr-1", signature_hash="s1-target", app_name="etl", started_at=START, state="COMPLETED"
    )
    sources = UsageSources(
        event_log=True,
        event_log_attempts=1,
        prometheus_url=prometheus,
        prometheus_job_id_label="emr-containers.amazonaws.com/job.id",
    )
    log = Path(__file__).parent / "fixtures" / "spark-events" / "application_1553914137147_0018"

    observation, report = gather_usage(outcome, sources, event_log=str(log), finished_at=END)

    assert report.sources == ["outcome", "eventlog", "prometheus"]
    assert observation.source == "outcome+eventlog+prometheus"
    assert observation.peak_pod_memory_mib == 3000  # the container's working set, not the log's RSS
    assert observation.cpu_used_cores_p90 == pytest.approx(2.0, abs=0.05)
    assert observation.peak_heap_mib == 940  # only the event log knows the heap
    assert observation.oom is True  # the OOM kill Prometheus saw


def test_prometheus_figures_of_the_whole_signature_only_fill_what_the_event_log_lacks(
    prometheus: str,
) -> None:
    """Without a job-id label they may be a concurrent run's (a mapped task's twin, a backfill)."""
    from airflow_emr_sizing.collect import UsageSources, gather_usage
    from airflow_emr_sizing.store import Observation

    outcome = Observation(
        job_id="jr-1", signature_hash="s1-target", app_name="etl", started_at=START, state="COMPLETED"
    )
    sources = UsageSources(event_log=True, event_log_attempts=1, prometheus_url=prometheus)
    log = Path(__file__).parent / "fixtures" / "spark-events" / "application_1553914137147_0018"
    from_log, _ = gather_usage(
        outcome, UsageSources(event_log=True, event_log_attempts=1), event_log=str(log)
    )

    observation, report = gather_usage(outcome, sources, event_log=str(log), finished_at=END)

    assert report.sources == ["outcome", "eventlog", "prometheus"]
    assert observation.peak_pod_memory_mib == from_log.peak_pod_memory_mib != 3000
    assert observation.oom is False  # the whole log shows none; the OOM kill may be another run's
    assert any("no prometheus_job_id_label" in w for w in report.warnings)


def test_a_malformed_prometheus_answer_only_warns() -> None:
    """Anything Prometheus (or a proxy before it) answers must not cost the run its record."""
    import http.server
    import threading

    from airflow_emr_sizing.collect import UsageSources, gather_usage
    from airflow_emr_sizing.store import Observation

    class ListAnswer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), ListAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        outcome = Observation(
            job_id="jr-1", signature_hash="s1-target", app_name="etl", started_at=START, oom=True
        )
        sources = UsageSources(prometheus_url=f"http://127.0.0.1:{server.server_address[1]}")
        observation, report = gather_usage(outcome, sources, finished_at=END)
    finally:
        server.shutdown()
        server.server_close()
    assert observation.oom is True and observation.source == "outcome"
    assert report.warnings == ["prometheus: AttributeError: 'list' object has no attribute 'get'"]


def test_an_unreachable_prometheus_only_warns(tmp_path: Path) -> None:
    from airflow_emr_sizing.collect import UsageSources, gather_usage
    from airflow_emr_sizing.store import Observation

    outcome = Observation(job_id="jr-1", signature_hash="s1-target", app_name="etl", started_at=START)
    sources = UsageSources(prometheus_url=f"http://127.0.0.1:{_free_port()}", prometheus_timeout=1)
    observation, report = gather_usage(outcome, sources, finished_at=END)
    assert observation.source == "outcome" and report.warnings[0].startswith("prometheus: ")


def test_credentials_in_the_url_authenticate_against_the_real_server(prometheus: str) -> None:
    """The standard library does not send a URL's userinfo: it is sent as Basic authentication."""
    with_credentials = prometheus.replace("http://", "http://dw-reader:s%40cret@")
    usage = PrometheusSource(with_credentials).usage("s1-target", START, END)
    assert usage.peak_pod_memory_mib == expected_peak_mib("s1-target")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@prom.example/", "https://user:***@prom.example/"),
        ("https://user:p@ss:w0rd@prom.example:9090/p?q=1", "https://user:***@prom.example:9090/p?q=1"),
        ("https://glpat-token@prom.example/", "https://***@prom.example/"),  # a lone user: a token
        ("https://prom.example/a@b", "https://prom.example/a@b"),  # no userinfo: unchanged
        ("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1", None),
    ],
)
def test_redact_url(url: str, shown: str | None) -> None:
    from airflow_emr_sizing.prometheus import redact_url

    assert redact_url(url) == (shown or url)


def test_a_prometheus_password_is_sent_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not in the XCom audit (which a deferred task reads back), not in the warnings."""
    import base64
    import http.server
    import json
    import threading

    from airflow_emr_sizing.collect import UsageSources, gather_usage
    from airflow_emr_sizing.store import Observation

    received: list[tuple[str, str | None]] = []

    class Unauthorized(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers.get("Authorization")))
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b"Unauthorized")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    url = f"http://dw:s3cret-pw@{host}/prom"
    sources = UsageSources(prometheus_url=url)
    outcome = Observation(job_id="jr-1", signature_hash="s1-target", app_name="etl", started_at=START)
    try:
        _, report = gather_usage(outcome, sources, finished_at=END)
        audited = sources.to_json()
        monkeypatch.setenv("AIRFLOW__EMR_SIZING__PROMETHEUS_URL", url)
        deferred = UsageSources.from_json(json.loads(json.dumps(audited))).prometheus()
    finally:
        server.shutdown()
        server.server_close()

    assert received == [("/prom/api/v1/query", "Basic " + base64.b64encode(b"dw:s3cret-pw").decode())]
    assert audited["prometheus_url"] == f"http://dw:***@{host}/prom"
    assert report.warnings == [f"prometheus: http://{host}/prom/api/v1/query: HTTP 401: Unauthorized"]
    assert "s3cret" not in json.dumps([audited, report.to_json()])
    assert deferred is not None and deferred.url == url  # the password comes back from the settings
