"""What only the DynamoDB store does: table layout, TTL, idempotent merges, schema checks, connections."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_emr_sizing import dynamodb_store
from airflow_emr_sizing.dynamodb_store import DynamoDBStore
from airflow_emr_sizing.exceptions import StoreError
from airflow_emr_sizing.sql_store import SqlStore
from airflow_emr_sizing.store import Observation, open_store, sqlite_file

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def obs(job_id: str, days_ago: float = 0, **fields: Any) -> Observation:
    return Observation(job_id, "s1-aaa", "app", NOW - timedelta(days=days_ago), **fields)


def client(store: DynamoDBStore) -> Any:
    return store._hook.client


def test_the_table_is_created_with_its_indexes_and_ttl(dynamodb_table: str) -> None:
    store = DynamoDBStore(dynamodb_table, region_name="us-east-1")

    table = client(store).describe_table(TableName=dynamodb_table)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"by_app", "by_app_spec"}
    ttl = client(store).describe_time_to_live(TableName=dynamodb_table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


def test_runs_expire_by_ttl_and_expired_ones_are_never_read(dynamodb_table: str) -> None:
    store = DynamoDBStore(dynamodb_table, region_name="us-east-1", retention_days=30)
    store.record(obs("fresh", 1))
    store.record(obs("stale", 45))  # expired 15 days ago; DynamoDB deletes such items lazily

    items = {i["sk"].rsplit("#", 1)[-1]: i for i in store._table.scan()["Items"] if "job_id" in i}
    assert int(items["fresh"]["expires_at"]) == int(
        (NOW - timedelta(days=1) + timedelta(days=30)).timestamp()
    )
    assert [o.job_id for o in store.history("s1-aaa")] == ["fresh"]
    assert [o.job_id for o in store.app_history("app")] == ["fresh"]


def test_every_report_of_a_job_lands_in_one_item(dynamodb_table: str) -> None:
    """The outcome and later evidence (another start time, even) merge; reports racing in threads too."""
    store = DynamoDBStore(dynamodb_table, region_name="us-east-1")
    store.record(obs("jr-1", 1, state="FAILED", oom=True, pod_memory_mib=9011))
    store.record(obs("jr-1", 1.01, oom=False, peak_pod_memory_mib=9100, source="eventlog"))

    def report(i: int) -> None:
        store.record(obs("jr-2", 2, executors=i, cpu_used_cores_p90=1.5))

    threads = [threading.Thread(target=report, args=(i,)) for i in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    first, second = store.history("s1-aaa")
    assert (first.job_id, first.state, first.oom, first.pod_memory_mib, first.peak_pod_memory_mib) == (
        "jr-1", "COMPLETED", True, 9011, 9100,
    )  # fmt: skip
    assert first.source == "eventlog"
    assert second.job_id == "jr-2" and second.executors in range(1, 9) and second.cpu_used_cores_p90 == 1.5
    runs = [i for i in store._table.scan()["Items"] if "job_id" in i]
    assert len(runs) == 2


def test_a_newer_table_layout_is_refused(dynamodb_table: str) -> None:
    store = DynamoDBStore(dynamodb_table, region_name="us-east-1")
    store._table.put_item(Item={"pk": "#meta", "sk": "#schema", "version": 9})
    dynamodb_store._ready.clear()  # as a new worker process would

    with pytest.raises(StoreError, match=r"schema version 9, newer than this package understands \(1\)"):
        DynamoDBStore(dynamodb_table, region_name="us-east-1")


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("peak_pod_memory_mib", "lots"), ("pod_memory_mib", Decimal("-1")), ("oom", "yes")],
)
def test_corrupt_items_are_an_error_not_a_number(dynamodb_table: str, attribute: str, value: Any) -> None:
    store = DynamoDBStore(dynamodb_table, region_name="us-east-1")
    store.record(obs("jr-1", peak_pod_memory_mib=4000))
    (item,) = [i for i in store._table.scan()["Items"] if "job_id" in i]
    store._table.update_item(
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET #a = :v",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":v": value},
    )

    with pytest.raises(StoreError, match="corrupt history item for job 'jr-1'"):
        store.history("s1-aaa")


def test_a_missing_table_is_not_created_when_told_not_to(dynamodb_table: str) -> None:
    with pytest.raises(StoreError, match="table does not exist"):
        DynamoDBStore(dynamodb_table, region_name="us-east-1", create_table=False)


def test_an_aws_connection_with_a_table_opens_a_dynamodb_store(
    dynamodb_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"emr_sizing_table": dynamodb_table, "region_name": "us-east-1", "retention_days": 7}
    monkeypatch.setenv("AIRFLOW_CONN_SIZING_DDB", json.dumps({"conn_type": "aws", "extra": extra}))

    store = open_store("sizing_ddb")

    assert isinstance(store, DynamoDBStore)
    assert store.description == f"dynamodb://{dynamodb_table} (sizing_ddb)"
    assert store.retention_days == 7
    store.record(obs("jr-1"))
    assert [o.job_id for o in open_store("sizing_ddb").history("s1-aaa")] == ["jr-1"]


def test_retention_defaults_to_the_emr_sizing_setting(
    dynamodb_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"emr_sizing_table": dynamodb_table, "region_name": "us-east-1"}
    monkeypatch.setenv("AIRFLOW_CONN_SIZING_DDB", json.dumps({"conn_type": "aws", "extra": extra}))
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__RETENTION_DAYS", "90")

    store = open_store("sizing_ddb")

    assert isinstance(store, DynamoDBStore) and store.retention_days == 90


def test_an_aws_connection_without_a_table_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SIZING_DDB", json.dumps({"conn_type": "aws", "extra": {}}))

    with pytest.raises(StoreError, match="'sizing_ddb' is an aws connection without 'emr_sizing_table'"):
        open_store("sizing_ddb")


def test_an_unknown_connection_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot read store connection 'no_such_conn'"):
        open_store("no_such_conn")


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"create_table": "maybe"}, "create_table='maybe': expected true or false"),
        ({"retention_days": "two years"}, "retention_days='two years' is not a number of days"),
        ({"retention_days": -1}, "retention_days=-1 is not a number of days"),
    ],
)
def test_a_bad_connection_extra_is_a_store_error_naming_it(
    extra: dict[str, Any], problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"emr_sizing_table": "t", "region_name": "us-east-1", **extra}
    monkeypatch.setenv("AIRFLOW_CONN_SIZING_DDB", json.dumps({"conn_type": "aws", "extra": extra}))

    with pytest.raises(StoreError, match=re.escape(f"connection 'sizing_ddb': extra {problem}")):
        open_store("sizing_ddb")


def test_create_table_false_as_a_string_is_false(
    dynamodb_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {
        "emr_sizing_table": f"{dynamodb_table}-absent",
        "region_name": "us-east-1",
        "create_table": "false",
    }
    monkeypatch.setenv("AIRFLOW_CONN_SIZING_DDB", json.dumps({"conn_type": "aws", "extra": extra}))

    with pytest.raises(StoreError, match="table does not exist"):
        open_store("sizing_ddb")


def test_a_sqlalchemy_url_wins_on_an_aws_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"sqlalchemy_url": f"sqlite:///{tmp_path / 'store.db'}"}
    monkeypatch.setenv("AIRFLOW_CONN_SIZING_SQL", json.dumps({"conn_type": "aws", "extra": extra}))

    store = open_store("sizing_sql")

    assert isinstance(store, SqlStore)
    assert sqlite_file("sizing_sql") == str(tmp_path / "store.db")
