"""What a run's executor pods really used, from Prometheus or Amazon Managed Prometheus (AMP).

The operator labels every executor pod with the signature hash. kube-state-metrics exports pod
labels as ``kube_pod_labels{label_<key>="<value>"}`` — but only the keys in its
``--metric-labels-allowlist`` (e.g. ``--metric-labels-allowlist=pods=[emr-sizing-signature]``).
cAdvisor's container series carry ``namespace`` and ``pod``, so joining the two on
``(namespace, pod)`` selects exactly the pods of one signature (and, when the job-id label is also
exported, of one job run). Executor containers are the ones Spark names
``spark-kubernetes-executor``.

Over the run's window this reads:

- the peak working-set memory of any executor pod (``container_memory_working_set_bytes``);
- the p90 of executor cores busy, pooled over pods and minutes
  (``rate(container_cpu_usage_seconds_total[2m])`` at one-minute steps), as the event-log reader
  computes it;
- OOM kills (``kube_pod_container_status_{last_,}terminated_reason{reason="OOMKilled"}``).

Label values are PromQL string literals, escaped, so no app name or hash can alter a query. AMP
requests are signed with SigV4 (service ``aps``) through botocore. Plain HTTP from the standard
library; every request has a timeout.

Credentials in the URL (``https://user:password@host/``) are sent as HTTP Basic authentication,
which the standard library does not do from a URL, and shown only redacted (:func:`redact_url`):
errors name the URL without them.
"""

from __future__ import annotations

import base64
import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_emr_sizing.eventlog import percentile_90
from airflow_emr_sizing.exceptions import EmrSizingError

__all__ = [
    "EXECUTOR_CONTAINER",
    "PrometheusError",
    "PrometheusSource",
    "PrometheusUsage",
    "label_name",
    "promql_string",
    "redact_url",
    "sign_aws_request",
]

EXECUTOR_CONTAINER = "spark-kubernetes-executor"
_MIB = 1 << 20
_STEP_S = 60
_AMP_HOST = re.compile(r"aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com")
#: ``scheme://`` and the userinfo before the host (the last ``@`` before the path).
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")


def redact_url(url: str) -> str:
    """``url`` safe to show: ``user:***@`` for ``user:password@``, and ``***@`` for a lone user
    (often a token)."""
    match = _USERINFO.match(url)
    if not match:
        return url
    user, colon, _ = match.group(2).partition(":")
    shown = f"{user}:***" if colon else "***"
    return f"{match.group(1)}{shown}@{url[match.end() :]}"


def _split_credentials(url: str) -> tuple[str, str | None]:
    """``url`` without its userinfo, and the Basic ``Authorization`` header the userinfo makes."""
    match = _USERINFO.match(url)
    if not match:
        return url, None
    user, _, password = match.group(2).partition(":")
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
    return match.group(1) + url[match.end() :], "Basic " + base64.b64encode(pair).decode()


class PrometheusError(EmrSizingError):
    """Prometheus could not be queried, or it cannot see the signature's pods."""


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal holding exactly ``value``.

    PromQL strings use Go's escapes, of which JSON's are a subset: a quote, a backslash or a
    newline in a value can never end the literal early.
    """
    return json.dumps(str(value))


def label_name(kubernetes_label_key: str) -> str:
    """The kube-state-metrics label for a pod label key: ``label_`` + the key, non-alnum as ``_``."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", kubernetes_label_key)


@dataclass(frozen=True)
class PrometheusUsage:
    """What the executor pods of one run used, as Prometheus saw them."""

    pods: int
    peak_pod_memory_mib: int | None
    cpu_used_cores_p90: float | None
    oom: bool
    oom_pods: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class PrometheusSource:
    """A Prometheus-compatible HTTP API: ``url`` is its base (``…/api/v1`` is appended).

    :param label_key: the pod label carrying the signature hash (``[emr_sizing] label_key``).
    :param job_id_label_key: a pod label carrying the EMR job id (e.g.
        ``emr-containers.amazonaws.com/job.id``), used only if kube-state-metrics exports it.
    :param aws_region: sign requests with SigV4 for AMP; inferred from an AMP URL when unset.
    :param aws_conn_id: Airflow AWS connection whose credentials sign AMP requests.
    """

    url: str
    label_key: str = "emr-sizing-signature"
    job_id_label_key: str | None = None
    timeout: float = 10.0
    aws_region: str | None = None
    aws_conn_id: str | None = None
    sign: bool | None = None

    @property
    def is_amp(self) -> bool:
        return self.sign if self.sign is not None else bool(_AMP_HOST.search(self.url))

    # -- the queries ------------------------------------------------------------------------------

    def pod_selector(self, signature_hash: str, job_id: str | None, window: str) -> str:
        """The signature's pods seen in ``window`` (e.g. ``"2m"``), as a ``(namespace, pod)`` vector."""
        matchers = [f"{label_name(self.label_key)}={promql_string(signature_hash)}"]
        if job_id and self.job_id_label_key:
            matchers.append(f"{label_name(self.job_id_label_key)}={promql_string(job_id)}")
        return f"max by (namespace, pod) (max_over_time(kube_pod_labels{{{', '.join(matchers)}}}[{window}]))"

    def usage(
        self, signature_hash: str, start: datetime, end: datetime, job_id: str | None = None
    ) -> PrometheusUsage:
        """Read one run's executor usage between ``start`` and ``end``."""
        window = max(_STEP_S, math.ceil((end - start).total_seconds()) + _STEP_S)
        pods = self.pod_selector(signature_hash, job_id, f"{window}s")
        container = f"container={promql_string(EXECUTOR_CONTAINER)}"
        memory = self.query(
            f"max by (namespace, pod) (max_over_time(container_memory_working_set_bytes{{{container}}}"
            f"[{window}s])) and on (namespace, pod) {pods}",
            end,
        )
        if not memory:
            self._explain_no_pods(signature_hash, end, window)
        peak = max(float(sample["value"][1]) for sample in memory)
        cpu = self.query_range(
            f"sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{{{container}}}[2m]))"
            f" and on (namespace, pod) {self.pod_selector(signature_hash, job_id, '2m')}",
            start,
            end,
        )
        samples = [float(value) for series in cpu for _, value in series["values"]]
        reason = f"reason={promql_string('OOMKilled')}"
        killed = self.query(
            f"(max by (namespace, pod) (max_over_time(kube_pod_container_status_terminated_reason"
            f"{{{container}, {reason}}}[{window}s])) or max by (namespace, pod) (max_over_time("
            f"kube_pod_container_status_last_terminated_reason{{{container}, {reason}}}[{window}s])))"
            f" > 0 and on (namespace, pod) {pods}",
            end,
        )
        oom_pods = tuple(sorted(str(s["metric"].get("pod")) for s in killed))
        warnings = () if samples else ("no executor CPU samples in the window",)
        return PrometheusUsage(
            pods=len(memory),
            peak_pod_memory_mib=math.ceil(peak / _MIB),
            cpu_used_cores_p90=round(percentile_90(samples), 3) if samples else None,
            oom=bool(oom_pods),
            oom_pods=oom_pods,
            warnings=warnings,
        )

    def _explain_no_pods(self, signature_hash: str, end: datetime, window: int) -> None:
        label = label_name(self.label_key)
        # Any pod of any signature in the day before: is the label exported at all?
        exported = self.query(f'count(last_over_time(kube_pod_labels{{{label}!=""}}[1d]))', end)
        if not exported:
            raise PrometheusError(
                f"no kube_pod_labels series has {label}: kube-state-metrics does not export the pod "
                f"label {self.label_key!r}; start it with "
                f"--metric-labels-allowlist=pods=[{self.label_key}]"
            )
        raise PrometheusError(
            f"no executor pods with {self.label_key}={signature_hash} had memory samples in the "
            f"{window}s before {end.isoformat()}"
        )

    # -- HTTP -------------------------------------------------------------------------------------

    def query(self, promql: str, at: datetime) -> list[dict[str, Any]]:
        """An instant query; the result vector."""
        data = self._call("query", {"query": promql, "time": f"{at.timestamp():.3f}"})
        return list(data["result"])

    def query_range(self, promql: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """A range query at one-minute steps; the result matrix."""
        params = {
            "query": promql,
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": str(_STEP_S),
        }
        return list(self._call("query_range", params)["result"])

    def _call(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        base, authorization = _split_credentials(self.url)
        url = f"{base.rstrip('/')}/api/v1/{endpoint}"  # what errors show: no credentials
        body = urllib.parse.urlencode(params).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if authorization:
            headers["Authorization"] = authorization
        if self.is_amp:
            headers = sign_aws_request("POST", url, body, headers, self._region(), self._credentials())
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as err:
            detail = err.read()[:300].decode(errors="replace")
            raise PrometheusError(f"{url}: HTTP {err.code}: {detail}") from err
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as err:
            raise PrometheusError(f"{url}: {err}") from err
        if payload.get("status") != "success":
            raise PrometheusError(f"{url}: {payload.get('errorType')}: {payload.get('error')}")
        return dict(payload["data"])

    def _region(self) -> str:
        if self.aws_region:
            return self.aws_region
        match = _AMP_HOST.search(self.url)
        if not match:
            raise PrometheusError(f"cannot tell the AWS region of {redact_url(self.url)}; set the AMP region")
        return match.group(1)

    def _credentials(self) -> Any:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        session = AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="sts").get_session()
        credentials = session.get_credentials()
        if credentials is None:
            raise PrometheusError("no AWS credentials to sign Amazon Managed Prometheus requests")
        return credentials.get_frozen_credentials()


def sign_aws_request(
    method: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    region: str,
    credentials: Any,
    service: str = "aps",
) -> dict[str, str]:
    """Headers of ``method url`` signed with AWS Signature Version 4 (botocore's signer)."""
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, service, region).add_auth(request)
    return dict(request.headers.items())
