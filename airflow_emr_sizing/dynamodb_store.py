"""The DynamoDB metrics store, through the amazon provider's ``DynamoDBHook``.

One table (created on first use unless told not to) holds every item, by kind:

=====================  ==========================  =================================================
item                   pk (partition)              sk (sort)
=====================  ==========================  =================================================
a run (observation)    its signature hash          ``<started_at, UTC, fixed width>#<job id>``
a job pointer          ``job#<job id>``            ``#job`` — where the job's run item lives
a key ↔ hash mapping   the signature hash          ``#signature``
the schema version     ``#meta``                   ``#schema``
=====================  ==========================  =================================================

A signature's history is one ``Query`` on its partition, newest first, bounded by ``Limit`` and by
a key condition on the start time. Recording is idempotent by job id: the job pointer is claimed
with ``if_not_exists``, so every report of a job lands in the same run item, and the run item is
updated field by field — a report's known values win, unknown ones leave what is there, ``oom`` only
ever turns true (:meth:`Observation.merged_with`, done by DynamoDB). Two global secondary indexes
serve an app's history (``by_app``) and an app + resource spec's (``by_app_spec``), keyed by
digests because app names are free text of any length. Run items and job pointers carry a TTL
attribute (``expires_at``) from ``retention_days``; mappings never expire.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_emr_sizing.exceptions import SizingConfigError, StoreError
from airflow_emr_sizing.settings import parse_bool
from airflow_emr_sizing.store import Observation, SignatureRecord, utc

if TYPE_CHECKING:
    from airflow_emr_sizing.signature import Signature

__all__ = ["SCHEMA_VERSION", "TABLE_EXTRA", "DynamoDBStore"]

#: Version of the table layout above; a table written by a newer package is refused.
SCHEMA_VERSION = 1
#: The ``extra`` field of an ``aws`` connection naming the table; it is what selects this store.
TABLE_EXTRA = "emr_sizing_table"
_META = {"pk": "#meta", "sk": "#schema"}
_MAPPING_SK = "#signature"
_JOB_SK = "#job"
_LOWEST_RUN_SK, _HIGHEST_RUN_SK = "0", "9~"  # every run sk sorts between; "#..." items do not
#: Every optional field of an observation, by how it is stored (a test checks none is missing).
_INTEGERS = ("day_of_week", "hour", "pod_memory_mib", "heap_mib", "executors", "peak_pod_memory_mib",
             "peak_heap_mib", "predicted_peak_mib")  # fmt: skip
_FLOATS = ("request_cores", "duration_s", "cpu_used_cores_p90", "predicted_drift")
_STRINGS = ("resource_spec", "failure_reason", "predicted_level")
_ready: set[tuple[str | None, str]] = set()
_ready_lock = threading.Lock()


class DynamoDBStore:
    """A :class:`~airflow_emr_sizing.store.MetricsStore` on one DynamoDB table.

    :param table_name: the table; created (on-demand billing, TTL on) when missing and ``create_table``.
    :param aws_conn_id: the Airflow ``aws`` connection (``None``: boto3's default chain).
    :param retention_days: runs expire this many days after they started (0 or ``None``: never).
    """

    def __init__(
        self,
        table_name: str,
        *,
        aws_conn_id: str | None = None,
        region_name: str | None = None,
        retention_days: float | None = None,
        create_table: bool = True,
    ) -> None:
        self.table_name = table_name
        self.retention_days = retention_days or None
        self.description = f"dynamodb://{table_name}" + (f" ({aws_conn_id})" if aws_conn_id else "")
        try:
            from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook
            from botocore.config import Config  # type: ignore[import-untyped]

            # one retry at most: the submit path gives the whole lookup [emr_sizing] store_timeout
            retries = {"mode": "standard", "total_max_attempts": 2}
            config = Config(connect_timeout=2, read_timeout=5, retries=retries)
            self._hook = DynamoDBHook(
                aws_conn_id=aws_conn_id, region_name=region_name, table_name=table_name, config=config
            )
            self._table = self._hook.conn.Table(table_name)
            key = (aws_conn_id, table_name)
            if key not in _ready:
                with _ready_lock:
                    self._ensure_table(create_table)
                    _ready.add(key)
        except StoreError:
            raise
        except Exception as err:
            raise StoreError(f"cannot open store {self.description}: {err}") from err

    @classmethod
    def from_connection(cls, conn: Any, default_retention_days: float | None = None) -> DynamoDBStore:
        """The store an ``aws`` connection names in its extra: ``{"emr_sizing_table": "..."}``.

        Optional extra: ``retention_days`` (default ``[emr_sizing] retention_days``), ``create_table``.
        """
        extra = conn.extra_dejson
        table = extra.get(TABLE_EXTRA)
        if not table:
            raise StoreError(
                f"connection {conn.conn_id!r} is an aws connection without {TABLE_EXTRA!r} in its extra"
            )
        retention_days = extra.get("retention_days", default_retention_days or 0)
        try:
            days = float(retention_days)
            if not 0 <= days < math.inf:
                raise ValueError(days)
        except (TypeError, ValueError) as err:
            raise StoreError(
                f"connection {conn.conn_id!r}: extra retention_days={retention_days!r} is not a "
                "number of days (0 keeps runs forever)"
            ) from err
        try:
            create_table = parse_bool("create_table", extra.get("create_table", True))
        except SizingConfigError as err:
            raise StoreError(f"connection {conn.conn_id!r}: extra {err}") from err
        return cls(str(table), aws_conn_id=conn.conn_id, retention_days=days, create_table=create_table)

    # -- schema --------------------------------------------------------------------------------

    def _ensure_table(self, create: bool) -> None:
        client = self._hook.client
        try:
            meta = self._table.get_item(Key=_META, ConsistentRead=True).get("Item")
        except client.exceptions.ResourceNotFoundException:
            if not create:
                raise StoreError(f"store {self.description}: table does not exist") from None
            self._create_table()
            meta = None
        if meta is None:
            try:
                self._table.put_item(
                    Item={**_META, "version": SCHEMA_VERSION}, ConditionExpression="attribute_not_exists(pk)"
                )
            except client.exceptions.ConditionalCheckFailedException:
                meta = self._table.get_item(Key=_META, ConsistentRead=True).get("Item")
        version = int(meta["version"]) if meta else SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.description} has schema version {version}, newer than this package "
                f"understands ({SCHEMA_VERSION}); upgrade airflow-emr-sizing"
            )

    def _create_table(self) -> None:
        client = self._hook.client

        def index(name: str, key: str) -> dict[str, Any]:
            return {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": key, "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }

        with contextlib.suppress(client.exceptions.ResourceInUseException):  # another worker was first
            client.create_table(
                TableName=self.table_name,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": name, "AttributeType": "S"}
                    for name in ("pk", "sk", "app_key", "app_spec_key")
                ],
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                GlobalSecondaryIndexes=[index("by_app", "app_key"), index("by_app_spec", "app_spec_key")],
            )
        client.get_waiter("table_exists").wait(TableName=self.table_name, WaiterConfig={"Delay": 1})
        client.update_time_to_live(
            TableName=self.table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )

    # -- the MetricsStore protocol -------------------------------------------------------------

    def record(self, observation: Observation) -> None:
        started = utc(observation.started_at)
        expires = self._expiry(started)
        try:
            pointer = self._table.update_item(
                Key={"pk": f"job#{observation.job_id}", "sk": _JOB_SK},
                UpdateExpression="SET run_pk = if_not_exists(run_pk, :pk), "
                "run_sk = if_not_exists(run_sk, :sk)"
                + (", expires_at = :exp" if expires else " REMOVE expires_at"),
                ExpressionAttributeValues={
                    ":pk": observation.signature_hash,
                    ":sk": _run_sk(started, observation.job_id),
                    **({":exp": expires} if expires else {}),
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
            names, values, sets = {}, {}, []
            attributes = {**_attributes(observation, expires), "signature_hash": pointer["run_pk"]}
            for i, (name, value) in enumerate(attributes.items()):
                names[f"#a{i}"], values[f":v{i}"] = name, value
                sets.append(f"#a{i} = :v{i}")
            names["#oom"], values[":oom"] = "oom", observation.oom
            # OOM evidence is sticky: a later report without it keeps what is there
            sets.append("#oom = :oom" if observation.oom else "#oom = if_not_exists(#oom, :oom)")
            if not expires:
                names["#exp"] = "expires_at"
            self._table.update_item(
                Key={"pk": pointer["run_pk"], "sk": pointer["run_sk"]},
                UpdateExpression="SET " + ", ".join(sets) + ("" if expires else " REMOVE #exp"),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as err:
            raise StoreError(f"cannot record job {observation.job_id} in {self.description}: {err}") from err

    def history(
        self, signature_hash: str, *, limit: int = 500, since: datetime | None = None
    ) -> list[Observation]:
        return self._query(
            {"KeyConditionExpression": _key_condition("pk", signature_hash, since), "ConsistentRead": True},
            limit,
        )

    def app_history(
        self,
        app_name: str,
        *,
        resource_spec: str | None = None,
        limit: int = 500,
        since: datetime | None = None,
    ) -> list[Observation]:
        if resource_spec is None:
            index, key = "by_app", _digest(app_name)
        else:
            index, key = "by_app_spec", _digest(app_name, resource_spec)
        field = "app_key" if resource_spec is None else "app_spec_key"
        runs = self._query(
            {"IndexName": index, "KeyConditionExpression": _key_condition(field, key, since)},
            limit,
            lambda o: o.app_name == app_name and (resource_spec is None or o.resource_spec == resource_spec),
        )
        runs.sort(key=lambda o: (o.started_at, o.job_id), reverse=True)  # an index is not read consistently
        return runs

    def _query(self, request: dict[str, Any], limit: int, keep: Any = None) -> list[Observation]:
        runs: list[Observation] = []
        try:
            for item in self._items({**request, "ScanIndexForward": False, "Limit": min(limit, 1000)}):
                if _expired(item):
                    continue  # TTL deletes lazily (within days): never read an expired run
                observation = _observation_of(item)
                if keep is None or keep(observation):
                    runs.append(observation)
                    if len(runs) >= limit:
                        break
        except StoreError:
            raise
        except Exception as err:
            raise StoreError(f"cannot read history from {self.description}: {err}") from err
        return runs

    def _items(self, request: dict[str, Any], operation: str = "query") -> Iterator[dict[str, Any]]:
        """The items of a ``query`` or ``scan``, page after page."""
        while True:
            page = getattr(self._table, operation)(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    def remember_signature(self, signature: Signature) -> None:
        item = {
            "pk": signature.hash,
            "sk": _MAPPING_SK,
            "key": signature.key,
            "app_name": signature.app_name,
            "format_version": signature.format_version,
            "first_seen": datetime.now(timezone.utc).isoformat(),
        }
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self._hook.client.exceptions.ConditionalCheckFailedException:
            pass  # kept once: the first mapping wins
        except Exception as err:
            raise StoreError(f"cannot record signature in {self.description}: {err}") from err

    def lookup_signature(self, signature_hash: str) -> SignatureRecord | None:
        try:
            item = self._table.get_item(Key={"pk": signature_hash, "sk": _MAPPING_SK}).get("Item")
        except Exception as err:
            raise StoreError(f"cannot read signatures from {self.description}: {err}") from err
        if item is None:
            return None
        return SignatureRecord(
            signature_hash, str(item["key"]), str(item["app_name"]), int(item["format_version"])
        )

    def prune(self, *, keep_last: int | None, older_than: datetime | None, dry_run: bool = False) -> int:
        """Delete (or count) runs beyond the ``keep_last`` newest of their signature or older than a date.

        Scans the table: a maintenance job, not a submit-time read. Age alone is also what the TTL
        attribute enforces without any command.
        """
        try:
            by_signature: dict[str, list[tuple[str, str]]] = {}
            for item in self._scan_runs():
                by_signature.setdefault(str(item["pk"]), []).append((str(item["sk"]), str(item["job_id"])))
            cutoff = _run_sk(utc(older_than), "") if older_than is not None else None
            doomed = []
            for pk, runs in by_signature.items():
                runs.sort(reverse=True)
                for rank, (sk, job_id) in enumerate(runs, start=1):
                    if (keep_last is not None and rank > keep_last) or (cutoff is not None and sk < cutoff):
                        doomed.append((pk, sk, job_id))
            if not dry_run:
                with self._table.batch_writer() as batch:
                    for pk, sk, job_id in doomed:
                        batch.delete_item(Key={"pk": pk, "sk": sk})
                        batch.delete_item(Key={"pk": f"job#{job_id}", "sk": _JOB_SK})
        except Exception as err:
            raise StoreError(f"cannot prune {self.description}: {err}") from err
        return len(doomed)

    def _scan_runs(self) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "ProjectionExpression": "pk, sk, job_id",
            "FilterExpression": "attribute_exists(job_id) AND NOT begins_with(sk, :hash)",
            "ExpressionAttributeValues": {":hash": "#"},
        }
        return self._items(request, "scan")

    def close(self) -> None:
        """boto3 clients hold no connection to release per use."""

    def _expiry(self, started: datetime) -> int | None:
        if not self.retention_days:
            return None
        return int((started + timedelta(days=self.retention_days)).timestamp())


def _run_sk(started: datetime, job_id: str) -> str:
    """Fixed-width UTC time first, so the sort key orders runs by start time."""
    return f"{started.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{job_id}"


def _key_condition(field: str, value: str, since: datetime | None) -> Any:
    from boto3.dynamodb.conditions import Key  # type: ignore[import-untyped]  # noqa: TID251 - types only

    low = _run_sk(utc(since), "") if since is not None else _LOWEST_RUN_SK
    return Key(field).eq(value) & Key("sk").between(low, _HIGHEST_RUN_SK)


def _digest(*parts: str) -> str:
    """A short stand-in for free text in an index key (partition keys stop at 2 KB)."""
    joined = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(joined).hexdigest()[:32]


def _attributes(observation: Observation, expires: int | None) -> dict[str, Any]:
    """The run item's attributes a report knows (``None`` fields are left as they are)."""
    attributes: dict[str, Any] = {
        "job_id": observation.job_id,
        "signature_hash": observation.signature_hash,
        "app_name": observation.app_name,
        "app_key": _digest(observation.app_name),
        "started_at": utc(observation.started_at).isoformat(),
        "state": observation.state,
        "source": observation.source,
    }
    if observation.resource_spec is not None:
        attributes["app_spec_key"] = _digest(observation.app_name, observation.resource_spec)
    if observation.holiday is not None:
        attributes["holiday"] = observation.holiday
    for name in (*_INTEGERS, *_STRINGS):
        value = getattr(observation, name)
        if value is not None:
            attributes[name] = value
    for name in _FLOATS:
        value = getattr(observation, name)
        if value is not None:
            attributes[name] = Decimal(repr(float(value)))
    if expires:
        attributes["expires_at"] = expires
    return attributes


def _expired(item: dict[str, Any]) -> bool:
    expires = item.get("expires_at")
    return isinstance(expires, Decimal) and expires <= Decimal(int(datetime.now(timezone.utc).timestamp()))


def _observation_of(item: dict[str, Any]) -> Observation:
    """Rebuild an observation, refusing items whose values cannot be what we wrote."""
    job_id = item.get("job_id")
    try:
        fields: dict[str, Any] = {}
        for name in _INTEGERS:
            value = item.get(name)
            if value is not None:
                if not isinstance(value, Decimal) or value != value.to_integral_value() or value < 0:
                    raise ValueError(f"{name}={value!r}")
                fields[name] = int(value)
        for name in _FLOATS:
            value = item.get(name)
            if value is not None:
                if not isinstance(value, Decimal):
                    raise ValueError(f"{name}={value!r}")
                fields[name] = float(value)
        for name in (*_STRINGS, "state", "source", "app_name", "signature_hash"):
            value = item.get(name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name}={value!r}")
        fields |= {name: item[name] for name in _STRINGS if item.get(name) is not None}
        for name in ("oom", "holiday"):
            if item.get(name) is not None and not isinstance(item[name], bool):
                raise ValueError(f"{name}={item[name]!r}")
        return Observation(
            job_id=str(job_id),
            signature_hash=str(item["signature_hash"]),
            app_name=str(item["app_name"]),
            started_at=datetime.fromisoformat(str(item["started_at"])),
            holiday=item.get("holiday"),
            state=str(item.get("state", "COMPLETED")),
            oom=bool(item.get("oom", False)),
            source=str(item.get("source", "outcome")),
            **fields,
        )
    except (KeyError, ValueError, TypeError) as err:
        raise StoreError(f"corrupt history item for job {job_id!r}: {err}") from err
