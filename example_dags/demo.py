"""The demo: run the example DAG for real against a moto-served EMR on EKS API.

    python example_dags/demo.py

Airflow runs the DAG with ``dag.test()`` in a throwaway home (``.demo/``); the embedded SQLite
store is seeded with five weeks of plausible hourly history; moto plays EMR on EKS and S3: it ends
each job run as it is submitted and leaves behind, in the run's own ``spark.eventLog.dir``, a real
Spark event log (one the fixture generator made with a local Spark). The demo prints the signature,
the recommendation, the StartJobRun request as EMR received it, the XCom audit and what was learned
from the event log; then it runs the same hour a week later, whose recommendation counts that run.
It exits non-zero if the sized request does not carry a new executor memory and the signature
label, or if the event log's observation is not recorded and used.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HOME = HERE.parent / ".demo"
RUN_AT = "2026-11-20T14:05:00+09:00"  # a Friday afternoon in Seoul: peak hour
WEEKS = 5
#: A real event log of a PySpark job (tests/fixtures/generate_eventlogs.py), as EMR would leave it.
EVENT_LOG = HERE.parent / "tests" / "fixtures" / "eventlogs" / "python_udf"


def main() -> int:
    from airflow_emr_sizing.testing import MotoEmrContainers, isolated_airflow

    shutil.rmtree(HOME, ignore_errors=True)
    isolated_airflow(HOME, dags_folder=HERE)
    if not os.environ.get("DEMO_VERBOSE"):
        os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = MotoEmrContainers().start()
    try:
        return run_demo(moto)
    finally:
        moto.stop()


def run_demo(moto: Any) -> int:
    import pendulum
    from rich.console import Console
    from rich.panel import Panel
    from rich.syntax import Syntax

    from airflow_emr_sizing.testing import migrate_metadata_db, run_dag

    console = Console()
    os.environ["AIRFLOW_VAR_DW_EMR_VIRTUAL_CLUSTER_ID"] = moto.create_virtual_cluster()
    moto.create_bucket("dw-emr-logs")  # the example DAG's log bucket
    os.environ["AIRFLOW_VAR_DW_EMR_JOB_ROLE_ARN"] = "arn:aws:iam::123456789012:role/dw-emr-job"
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {"conn_type": "aws", "extra": {"region_name": "us-east-1"}}
    )
    console.print(f"[bold]Airflow home[/] {HOME}   [bold]EMR on EKS (moto)[/] {moto.endpoint}")
    migrate_metadata_db()

    sys.path.insert(0, str(HERE))
    from dw_blog_load import dag  # the DAG file, as the scheduler would import it

    run_at = pendulum.parse(RUN_AT)
    seeded = seed_history(dag, run_at)
    console.print(f"Seeded the embedded store with {seeded} past runs ({WEEKS} weeks, hourly).")

    with moto.finish_runs("COMPLETED", on_end=moto.event_log_writer(EVENT_LOG)):
        result = run_dag(dag, logical_date=run_at)
    console.print(f"DAG run [bold]{result.run_id}[/]: {result.state} {result.task_states}")

    ok = True
    for task_id in ("load_blog_posts", "aggregate_blog_stats"):
        audit = result.xcom(task_id, "emr_sizing")
        job_id = result.xcom(task_id)
        sent = moto.backend.job_runs.get(job_id)
        signature = (audit or {}).get("signature") or {}
        console.rule(
            f"[bold]{task_id}[/]  mode={audit and audit['mode']}  dry_run={audit and audit['dry_run']}"
        )
        console.print(
            f"signature key  [cyan]{signature.get('key')}[/]\nsignature hash [cyan]{signature.get('hash')}[/]"
        )
        console.print(
            f"recommendation {json.dumps(audit and audit['recommendation'])}\n"
            f"basis          {json.dumps(audit and audit['basis'])}"
        )
        if sent is not None:
            request = {"jobDriver": sent.job_driver, "configurationOverrides": sent.configuration_overrides}
            console.print(
                Panel(
                    Syntax(json.dumps(request, indent=2), "json", word_wrap=True),
                    title="StartJobRun request as sent",
                )
            )
        console.print(
            Panel(
                Syntax(json.dumps(audit, indent=2), "json", word_wrap=True),
                title="XCom audit (key emr_sizing)",
            )
        )
        if task_id == "load_blog_posts":
            ok = ok and check_sized(console, audit, sent)
    show_recorded_outcome(console, result)
    ok = ok and result.state == "success"

    console.rule("[bold]load_blog_posts, the same hour a week later")
    with moto.finish_runs("COMPLETED", on_end=moto.event_log_writer(EVENT_LOG)):
        later = run_dag(dag, logical_date=run_at.add(weeks=1))
    ok = check_learned(console, result, later) and ok and later.state == "success"
    return 0 if ok else 1


def seed_history(dag: Any, run_at: Any) -> int:
    """Write WEEKS of hourly runs for each task's signatures, as their outcomes would have been."""
    import pendulum

    from airflow_emr_sizing.settings import load_settings
    from airflow_emr_sizing.signature import build_signature
    from airflow_emr_sizing.spark_conf import executor_size, read_job_conf
    from airflow_emr_sizing.store import Observation, open_store

    store = open_store(path=load_settings().store_path)
    rng = random.Random(20261124)
    count = 0
    for task in dag.tasks:
        conf = read_job_conf(task.job_driver, task.configuration_overrides)
        size = executor_size(conf)
        start = run_at - timedelta(weeks=WEEKS)
        for hours in range(WEEKS * 7 * 24):
            started = start + timedelta(hours=hours)
            signature = build_signature(task.name, started, "Asia/Seoul", conf.effective, "KR")
            store.remember_signature(signature)
            local = pendulum.instance(started).in_timezone("Asia/Seoul")
            busy = 1.0 if signature.holiday or local.isoweekday() > 5 or not 9 <= local.hour < 19 else 1.6
            peak = int(size.pod_memory_mib * 0.33 * busy * rng.lognormvariate(0, 0.08))
            store.record(
                Observation.of(
                    signature,
                    job_id=f"seed-{task.task_id}-{hours}",
                    started_at=started,
                    pod_memory_mib=size.pod_memory_mib,
                    heap_mib=size.heap_mib,
                    executors=size.instances,
                    duration_s=rng.uniform(900, 1800),
                    peak_pod_memory_mib=peak,
                    peak_heap_mib=int(peak * 0.7),
                    cpu_used_cores_p90=round(min(size.cores, 1.2 * busy * rng.uniform(0.8, 1.2)), 2),
                    source="seed",
                )
            )
            count += 1
    store.close()
    return count


def check_sized(console: Any, audit: dict[str, Any] | None, sent: Any) -> bool:
    from airflow_emr_sizing.spark_conf import executor_size, read_job_conf

    if audit is None or sent is None:
        console.print("[red]FAIL[/] no audit or no job run")
        return False
    conf = read_job_conf(sent.job_driver, sent.configuration_overrides)
    label = audit["signature"]["label"]
    sent_memory = conf.get("spark.executor.memory")
    labelled = all(
        conf.get(f"spark.kubernetes.{role}.label.{label['key']}") == label["value"]
        for role in ("driver", "executor")
    )
    changed = (
        sent_memory != "8g" and executor_size(conf).heap_mib == audit["recommendation"]["executor_memory_mib"]
    )
    verdict = "[green]OK[/]" if changed and labelled else "[red]FAIL[/]"
    console.print(
        f"{verdict} configured spark.executor.memory=8g, sent {sent_memory}; "
        f"pod label {label['key']}={label['value']} on driver and executors: {labelled}"
    )
    return changed and labelled


def show_recorded_outcome(console: Any, result: Any) -> None:
    from airflow_emr_sizing.settings import load_settings
    from airflow_emr_sizing.store import open_store

    store = open_store(path=load_settings().store_path)
    audit = result.xcom("load_blog_posts", "emr_sizing")
    newest = store.history(audit["signature"]["hash"], limit=1)
    if newest:
        o = newest[0]
        console.print(
            f"Recorded for next time: job {o.job_id} state={o.state} oom={o.oom} "
            f"pod_memory_mib={o.pod_memory_mib} peak_pod_memory_mib={o.peak_pod_memory_mib} "
            f"peak_heap_mib={o.peak_heap_mib} cpu_used_cores_p90={o.cpu_used_cores_p90} "
            f"executors={o.executors} (source {o.source})"
        )
    learned = audit.get("learned") or {}
    event_log = learned.get("event_log") or {}
    console.print(
        f"Read from the event log at {event_log.get('location')}: app {event_log.get('app_id')}, "
        f"{event_log.get('executors')} executors, peak pod memory {event_log.get('peak_pod_memory_mib')} MiB"
    )
    store.close()


def check_learned(console: Any, first: Any, later: Any) -> bool:
    """The first run's event-log observation is in the store, and next week's sizing counts it."""
    from airflow_emr_sizing.settings import load_settings
    from airflow_emr_sizing.store import open_store

    before = first.xcom("load_blog_posts", "emr_sizing")
    after = later.xcom("load_blog_posts", "emr_sizing")
    job_id = first.xcom("load_blog_posts")
    store = open_store(path=load_settings().store_path)
    try:
        history = store.history(after["signature"]["hash"], limit=1000)
    finally:
        store.close()
    recorded = [o for o in history if o.job_id == job_id]
    from_log = bool(recorded) and "eventlog" in recorded[0].source and recorded[0].peak_pod_memory_mib
    counted = (after["basis"] or {}).get("samples", 0) > (before["basis"] or {}).get("samples", 0)
    console.print(
        f"signature {after['signature']['key']} (same as last week: "
        f"{after['signature']['hash'] == before['signature']['hash']})\n"
        f"basis last week {json.dumps(before['basis'])}\n"
        f"basis this week {json.dumps(after['basis'])}\n"
        f"recommendation  {json.dumps(after['recommendation'])}"
    )
    verdict = "[green]OK[/]" if from_log and counted else "[red]FAIL[/]"
    console.print(
        f"{verdict} job {job_id} was recorded from its event log "
        f"(source {recorded[0].source if recorded else None}) and this week's recommendation counts it"
    )
    return bool(from_log and counted)


if __name__ == "__main__":
    sys.exit(main())
