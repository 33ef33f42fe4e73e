"""What a finished job run tells us: its final state, failure reason, and whether it OOMed.

Built from ``DescribeJobRun``, which returns the request as submitted, so the size recorded is the
size the run really had (sized or not).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_emr_sizing.signature import Signature
from airflow_emr_sizing.spark_conf import executor_size, read_job_conf
from airflow_emr_sizing.store import Observation

__all__ = ["TERMINAL_STATES", "looks_like_oom", "observation_from_job_run"]

TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
_OOM = re.compile(
    r"OOMKilled|OutOfMemory|out of memory|exit code 137|exit code 52|exceeding physical memory"
    r"|container killed.{0,80}memory|memory limit exceeded",
    re.IGNORECASE,
)


#: A GPU's device memory (RAPIDS, CUDA): a bigger executor pod does not help.
_GPU_OOM = re.compile(
    r"Gpu\w*OOM|GPU OutOfMemory|GPU out of memory|CUDA out of memory|cuda\.OutOfMemoryError", re.IGNORECASE
)


def looks_like_oom(*texts: str | None) -> bool:
    """Whether a failure text says an executor ran out of memory (JVM, container or YARN wording).

    A heuristic on free text: the event log, when read whole, has the last word (see ``collect``).
    """
    return any(text and _OOM.search(_GPU_OOM.sub("", text)) for text in texts)


def observation_from_job_run(job_run: Mapping[str, Any], signature: Signature) -> Observation:
    """One observation from a ``DescribeJobRun`` ``jobRun``: state, reason, OOM, the size it ran at."""
    state = str(job_run.get("state", "UNKNOWN"))
    reason = " ".join(
        str(part) for part in (job_run.get("failureReason"), job_run.get("stateDetails")) if part
    )
    started = _aware(job_run.get("createdAt")) or datetime.now(timezone.utc)
    finished = _aware(job_run.get("finishedAt"))
    size = None
    try:
        size = executor_size(read_job_conf(job_run["jobDriver"], job_run.get("configurationOverrides")))
    except Exception:  # the run happened; an unreadable conf only costs us its size
        size = None
    return Observation.of(
        signature,
        job_id=str(job_run["id"]),
        started_at=started,
        state=state,
        oom=state == "FAILED" and looks_like_oom(reason),
        pod_memory_mib=size.pod_memory_mib if size else None,
        heap_mib=size.heap_mib if size else None,
        request_cores=size.request_cores if size else None,
        executors=size.instances if size else None,
        duration_s=(finished - started).total_seconds() if finished else None,
        failure_reason=reason or None,
        source="outcome",
    )


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
