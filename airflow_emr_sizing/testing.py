"""Run sized DAGs for real without AWS: an EMR on EKS API served by moto, and an isolated Airflow.

For this package's tests, demo and benchmarks, and for users testing their own DAGs. Needs the
``test`` extra (moto with its server). Call :func:`isolated_airflow` before Airflow is imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DagRunResult", "MotoEmrContainers", "isolated_airflow", "run_dag"]

REGION = "us-east-1"


def isolated_airflow(home: Path, dags_folder: Path | None = None) -> dict[str, str]:
    """Point Airflow at a private home and SQLite metadata DB, and boto3 at fake credentials.

    Must run before ``airflow`` is imported (Airflow reads its configuration once).
    """
    home.mkdir(parents=True, exist_ok=True)
    dags = dags_folder or home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    os.environ.update(env)
    os.environ.pop("AWS_PROFILE", None)
    return env


def migrate_metadata_db() -> None:
    """Create Airflow's metadata tables (what ``airflow db migrate`` does), in-process."""
    from airflow.utils import db

    db.upgradedb()


class MotoEmrContainers:
    """moto's EMR-containers API on a local port, reachable by boto3 and aiobotocore alike.

    moto's job runs stay ``RUNNING`` forever; :meth:`finish_runs` plays the cluster and ends them.
    """

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""

    def start(self) -> MotoEmrContainers:
        # its web server logs each request at INFO, which Airflow 3.0 prints on stdout
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint
        return self

    def stop(self) -> None:
        self._server.stop()
        os.environ.pop("AWS_ENDPOINT_URL", None)

    @property
    def backend(self) -> Any:
        """The in-process backend the server thread serves (same module globals)."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.emrcontainers.models import emrcontainers_backends

        return emrcontainers_backends[DEFAULT_ACCOUNT_ID][REGION]

    def create_virtual_cluster(self, name: str = "dw-virtual-cluster", namespace: str = "dw") -> str:
        import boto3  # type: ignore[import-untyped]  # noqa: TID251 - talks to moto directly

        client = boto3.client("emr-containers", region_name=REGION, endpoint_url=self.endpoint)
        response = client.create_virtual_cluster(
            name=name,
            containerProvider={"id": "eks-dw", "type": "EKS", "info": {"eksInfo": {"namespace": namespace}}},
        )
        return str(response["id"])

    def create_bucket(self, name: str) -> None:
        """An S3 bucket in moto, as the team's log bucket exists before any run (idempotent)."""
        import boto3  # noqa: TID251 - talks to moto directly

        s3 = boto3.client("s3", region_name=REGION, endpoint_url=self.endpoint)
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=name)

    def job_runs(self) -> list[Any]:
        return list(self.backend.job_runs.values())

    @contextlib.contextmanager
    def finish_runs(
        self,
        state: str = "COMPLETED",
        after_s: float = 0.0,
        state_details: str | None = None,
        failure_reason: str = "USER_ERROR",
        on_end: Callable[[Any], None] | None = None,
    ) -> Iterator[None]:
        """While active, end every running job run ``after_s`` seconds after it appears.

        With ``after_s=0`` a run ends as it is submitted, so the operator's first status check
        already sees the final state (no polling sleep, no deferral). ``on_end(run)`` plays what
        the cluster leaves behind, e.g. :meth:`event_log_writer`.
        """
        from moto.core.utils import utcnow

        backend, stop = self.backend, threading.Event()
        first_seen: dict[str, float] = {}
        original = backend.start_job_run

        def end(run: Any) -> None:
            run.state = state
            run.finished_at = utcnow()
            run.state_details = state_details or f"set to {state} by the test harness"
            if state == "FAILED":
                run.failure_reason = failure_reason
            if on_end is not None:
                on_end(run)

        def start_and_end(*args: Any, **kwargs: Any) -> Any:
            run = original(*args, **kwargs)
            end(run)
            return run

        def loop() -> None:
            while not stop.is_set():
                for run in list(backend.job_runs.values()):
                    if run.state == "RUNNING":
                        seen = first_seen.setdefault(run.id, time.monotonic())
                        if time.monotonic() - seen >= after_s:
                            end(run)
                stop.wait(0.05)

        if after_s <= 0:
            backend.start_job_run = start_and_end
        worker = threading.Thread(target=loop, name="moto-job-runs", daemon=True)
        worker.start()
        try:
            yield
        finally:
            stop.set()
            worker.join()
            if after_s <= 0:
                backend.start_job_run = original

    def event_log_writer(self, fixture: Path) -> Callable[[Any], None]:
        """An ``on_end`` that uploads ``fixture`` (an event-log file or ``eventlog_v2_*`` folder)
        to the run's ``spark.eventLog.dir`` in moto's S3, as Spark on EMR would have written it.

        Runs that do not log events to S3 are left alone.
        """
        import boto3  # noqa: TID251 - talks to moto directly

        from airflow_emr_sizing.eventlog_sources import split_s3_url
        from airflow_emr_sizing.spark_conf import read_job_conf

        def write(run: Any) -> None:
            conf = read_job_conf(run.job_driver, run.configuration_overrides).effective
            location = conf.get("spark.eventLog.dir", "")
            if conf.get("spark.eventLog.enabled") != "true" or not location.startswith("s3://"):
                return
            bucket, prefix = split_s3_url(location)
            self.create_bucket(bucket)
            s3 = boto3.client("s3", region_name=REGION, endpoint_url=self.endpoint)
            files = [fixture] if fixture.is_file() else sorted(p for p in fixture.rglob("*") if p.is_file())
            root = fixture.parent if fixture.is_file() or fixture.name.startswith("eventlog_v2_") else fixture
            for file in files:
                name = str(file.relative_to(root))
                s3.put_object(Bucket=bucket, Key=prefix.rstrip("/") + "/" + name, Body=file.read_bytes())

        return write


@dataclass
class DagRunResult:
    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    xcoms: dict[tuple[str, str, int], Any]

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        return self.xcoms.get((task_id, key, map_index))


def run_dag(dag: Any, **test_kwargs: Any) -> DagRunResult:
    """``dag.test(**test_kwargs)``, then read task states and XComs back from the metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag_run = dag.test(**test_kwargs)
    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == dag_run.run_id
            )
        )
        states = {_ti_name(ti.task_id, ti.map_index): str(ti.state) for ti in tis}
        rows: list[Any] = list(session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag.dag_id)))
        xcoms = {(row.task_id, row.key, row.map_index): XComModel.deserialize_value(row) for row in rows}
    return DagRunResult(dag.dag_id, dag_run.run_id, str(dag_run.state), states, xcoms)


def _ti_name(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"
