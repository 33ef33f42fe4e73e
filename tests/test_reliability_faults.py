"""Store faults never break a job: the real operator submits the user's request unchanged, within
the store timeout, and the XCom audit says why.

Each fault is injected into a real store: a PostgreSQL server stopped between two runs, a
PostgreSQL reached through a proxy that delays every packet, a schema written by a newer version,
corrupt rows, an unreachable DynamoDB endpoint, a missing connection. The submitted payload is
compared with what the amazon provider's own operator submits for the same arguments.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pendulum
import pytest
import sqlalchemy as sa
from airflow.providers.amazon.aws.hooks.emr import EmrContainerHook
from airflow.providers.amazon.aws.operators.emr import EmrContainerOperator as AmazonEmrContainerOperator
from test_operator import JOB

from airflow_emr_sizing import dynamodb_store, sql_store
from airflow_emr_sizing.audit import AUDIT_XCOM_KEY
from airflow_emr_sizing.operators.emr import EmrContainerOperator
from airflow_emr_sizing.signature import Signature, build_signature
from airflow_emr_sizing.store import MetricsStore, Observation, open_store

pytestmark = pytest.mark.integration
FAULTS = "store faults injected into the real operator's lookup"
UNCHANGED = "jobs submitted exactly as the amazon operator would, within the store timeout, reason in XCom"


class Submission:
    """What the operator sent to StartJobRun, and how long after ``execute()`` began."""

    def __init__(self, payload: tuple[Any, ...], seconds: float, audit: dict[str, Any]) -> None:
        self.payload, self.seconds, self.audit = payload, seconds, audit


def execute(operator: Any, context: dict[str, Any]) -> Submission:
    sent: dict[str, Any] = {}

    def submit(_hook: Any, *args: Any, **kwargs: Any) -> str:
        sent["at"], sent["payload"] = time.perf_counter(), args
        return "jr-1"

    with mock.patch.object(EmrContainerHook, "submit_job", autospec=True, side_effect=submit):
        started = time.perf_counter()
        operator.execute(context)
    return Submission(sent["payload"], sent["at"] - started, context["ti"].xcoms.get(AUDIT_XCOM_KEY, {}))


def plain(context: dict[str, Any]) -> tuple[Any, ...]:
    return execute(
        AmazonEmrContainerOperator(task_id="plain", client_request_token="tok", **JOB), context
    ).payload


def sized(context: dict[str, Any]) -> Submission:
    operator = EmrContainerOperator(
        task_id="sized", client_request_token="tok", dry_run=False, timezone="Asia/Seoul", **JOB
    )
    return execute(operator, context)


def signature_of(context: dict[str, Any]) -> Signature:
    return build_signature(
        "dw-blog-load", context["logical_date"], "Asia/Seoul", {"spark.executor.instances": "10"}
    )


def seed(
    store: MetricsStore, context: dict[str, Any], peaks: tuple[int, ...] = (3000, 3100, 3200, 3300)
) -> None:
    signature = signature_of(context)
    now = pendulum.now("UTC")  # the recommender weighs (and reads) history back from the wall clock
    for i, peak in enumerate(peaks):
        started = now.subtract(weeks=i + 1)
        store.record(Observation.of(signature, f"seed-{i}", started, peak_pod_memory_mib=peak))


def assert_unchanged(
    context: dict[str, Any], result: Submission, reason: str, timeout: float, proved: Any
) -> None:
    assert result.payload == plain(context)
    assert result.audit["applied"] is False
    assert result.audit["recommendation"] is None
    assert reason in result.audit["reason"], result.audit["reason"]
    assert result.seconds < timeout + 1.5  # the lookup's bound, plus the operator's own work
    proved(FAULTS)
    proved(UNCHANGED)


@pytest.fixture
def use_connection(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Any]], str]:
    """Make the tasks' store the Airflow connection described (as ``[emr_sizing] store_conn_id``)."""

    def use(connection: dict[str, Any]) -> str:
        monkeypatch.setenv("AIRFLOW_CONN_SIZING_STORE", json.dumps(connection))
        monkeypatch.setenv("AIRFLOW__EMR_SIZING__STORE_CONN_ID", "sizing_store")
        return "sizing_store"

    return use


def sql_connection(url: str) -> dict[str, Any]:
    return {"conn_type": "postgres", "extra": {"sqlalchemy_url": url}}


def test_postgres_stopped_mid_run_then_back(
    task_context: dict[str, Any], use_connection: Any, proved: Any
) -> None:
    from airflow_emr_sizing.testing_postgres import ThrowawayPostgres, find_postgres_bin

    if find_postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries not found")  # the `postgres` fixture fails in CI
    with ThrowawayPostgres() as server:
        url = server.url()
        use_connection(sql_connection(url))
        seed(open_store("sizing_store"), task_context)
        assert sized(task_context).audit["applied"] is True

        server.stop_server()
        down = sized(task_context)
        assert_unchanged(task_context, down, f"cannot read history from {url}", 5.0, proved)

        server.start_server()
        assert sized(task_context).audit["applied"] is True  # sizing is back with the store


class SlowProxy:
    """A TCP proxy on loopback that holds every chunk for ``delay`` seconds each way."""

    def __init__(self, upstream_port: int, delay: float) -> None:
        self.upstream, self.delay = upstream_port, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                if self.closed.wait(self.delay):
                    break
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                end.close()

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


@pytest.fixture
def slow_postgres(postgres: Any, postgres_url: str) -> Iterator[str]:
    """The test's database, reached through a proxy that adds 2.5 s to every packet."""
    sql_store.SqlStore(postgres_url)  # schema first, at full speed
    proxy = SlowProxy(postgres.port, delay=2.5)
    yield postgres_url.replace(f":{postgres.port}/", f":{proxy.port}/")
    proxy.close()


def test_postgres_slow_store_is_abandoned_at_the_timeout(
    task_context: dict[str, Any],
    postgres_url: str,
    slow_postgres: str,
    use_connection: Any,
    monkeypatch: pytest.MonkeyPatch,
    proved: Any,
) -> None:
    seed(sql_store.SqlStore(postgres_url), task_context)  # sizable history, reached directly
    use_connection(sql_connection(slow_postgres))
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__STORE_TIMEOUT", "1")

    result = sized(task_context)

    assert_unchanged(task_context, result, "metrics store lookup took longer than 1s", 1.0, proved)


def _bump_schema(kind: str, where: str) -> None:
    if kind == "dynamodb":
        store = open_store("sizing_store")
        store._table.put_item(
            Item={"pk": "#meta", "sk": "#schema", "version": dynamodb_store.SCHEMA_VERSION + 1}
        )  # type: ignore[attr-defined]
        dynamodb_store._ready.clear()  # the next task is a new process: it checks again
        return
    engine = sa.create_engine(where, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        newer = str(sql_store.SCHEMA_VERSION + 1)
        conn.execute(
            sa.text("UPDATE emr_sizing_meta SET value = :v WHERE name = 'schema_version'"), {"v": newer}
        )
    sql_store._schema_ready.clear()


def _corrupt(kind: str, where: str) -> None:
    if kind == "dynamodb":
        table = open_store("sizing_store")._table  # type: ignore[attr-defined]
        item = next(i for i in table.scan()["Items"] if i.get("job_id") == "seed-1")
        table.update_item(
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET peak_pod_memory_mib = :v",
            ExpressionAttributeValues={":v": "lots"},
        )
        return
    # SQLite stores what it is given; PostgreSQL keeps types, so there a negative size is the damage
    value = "'lots'" if kind == "sqlite" else "-5"
    engine = sa.create_engine(where, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"UPDATE emr_sizing_observations SET peak_pod_memory_mib = {value} WHERE job_id = 'seed-1'"
            )
        )


@pytest.fixture(params=["sqlite", "postgresql", "dynamodb"])
def store_kind(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_connection: Any
) -> tuple[str, str]:
    """Each kind of store, configured for the tasks: (kind, SQLAlchemy URL or table name)."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        monkeypatch.setenv("AIRFLOW__EMR_SIZING__STORE_PATH", str(path))
        return "sqlite", f"sqlite:///{path}"
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        use_connection(sql_connection(url))
        return "postgresql", url
    table = request.getfixturevalue("dynamodb_table")
    use_connection({"conn_type": "aws", "extra": {"emr_sizing_table": table, "region_name": "us-east-1"}})
    return "dynamodb", table


def _store(kind: str, where: str) -> MetricsStore:
    return sql_store.SqlStore(where) if kind == "sqlite" else open_store("sizing_store")


@pytest.mark.parametrize(
    ("fault", "reason"),
    [(_bump_schema, "newer than this package understands"), (_corrupt, "corrupt history")],
    ids=["newer-schema", "corrupt-rows"],
)
def test_newer_schema_and_corrupt_rows(
    store_kind: tuple[str, str],
    fault: Callable[[str, str], None],
    reason: str,
    task_context: dict[str, Any],
    proved: Any,
) -> None:
    kind, where = store_kind
    seed(_store(kind, where), task_context)
    assert sized(task_context).audit["applied"] is True  # the store was fine before the fault

    fault(kind, where)

    assert_unchanged(task_context, sized(task_context), reason, 5.0, proved)


def test_unreachable_dynamodb(task_context: dict[str, Any], use_connection: Any, proved: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    extra = {
        "emr_sizing_table": "t",
        "region_name": "us-east-1",
        "endpoint_url": f"http://127.0.0.1:{closed_port}",
    }
    use_connection({"conn_type": "aws", "extra": extra})

    result = sized(task_context)

    assert_unchanged(task_context, result, "cannot open store dynamodb://t", 5.0, proved)


def test_missing_store_connection(
    task_context: dict[str, Any], monkeypatch: pytest.MonkeyPatch, proved: Any
) -> None:
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__STORE_CONN_ID", "not_defined_anywhere")

    assert_unchanged(
        task_context, sized(task_context), "cannot read store connection 'not_defined_anywhere'", 5.0, proved
    )
