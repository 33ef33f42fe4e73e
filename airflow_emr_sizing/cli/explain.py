"""``emr-sizing explain``: why a signature gets the size it gets, from the store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

from airflow_emr_sizing.cli._policy import policy_json, policy_options
from airflow_emr_sizing.cli._store import open_cli_store, resolve_signature, store_options
from airflow_emr_sizing.cli._time import parse_moment

if TYPE_CHECKING:
    from airflow_emr_sizing.recommender import Bounds, Policy
    from airflow_emr_sizing.signature import Signature
    from airflow_emr_sizing.store import MetricsStore, Observation, SignatureRecord

__all__ = ["explain"]

_SHOWN = 50  # runs listed under "history"


@click.command()
@click.argument("signature")
@store_options
@click.option("--store-path", default=None, hidden=True, help="Old name of --path.")
@click.option(
    "--at",
    "at",
    default=None,
    metavar="TIME",
    help="Explain as of this moment (ISO-8601; no offset means UTC): only runs that started before it "
    "count, as the operator saw the store then. Default: now.",
)
@policy_options
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain(
    signature: str,
    conn_id: str | None,
    path: str | None,
    store_path: str | None,
    at: str | None,
    output: str,
    policy: Policy,
    bounds: Bounds,
) -> None:
    """Show the history, level, spread, drift, OOM floors, bounds and node fit behind SIGNATURE.

    SIGNATURE is a key (dw-blog-load-day-5-hour-14-dra-off-exec-10) or the hash on a pod's label.
    The policy is the tasks' own ([emr_sizing] risk, min_samples, node_memory, node_cores); the
    options override it as a task's arguments would. A task's bounds on executor memory and cores
    are its own arguments: give them to see the size as that task gets it.
    """
    from airflow_emr_sizing.exceptions import EmrSizingError
    from airflow_emr_sizing.plan import SizingOptions, recommend_from_store
    from airflow_emr_sizing.recommender import Recommendation
    from airflow_emr_sizing.spark_conf import ExecutorSize

    if store_path is not None and path not in (None, store_path):
        raise click.UsageError("--store-path is the old name of --path: give only one")
    now = parse_moment(at, "--at") if at else datetime.now(timezone.utc)
    wanted, _ = resolve_signature(signature)
    store = _AsOf(open_cli_store(conn_id, path or store_path), now)
    try:
        history = store.history(wanted, limit=_SHOWN)
        record = store.lookup_signature(wanted)
        if not history:
            before = f" before {now.isoformat()}" if at else ""
            raise click.ClickException(
                f"no runs recorded for {signature!r} (hash {wanted}){before} in {store.description}"
            )
        parsed = _signature(wanted, record, signature, history[0])
        sized = next((o for o in history if o.heap_mib and o.pod_memory_mib), None)
        heap = sized.heap_mib if sized and sized.heap_mib else 1024
        pod = sized.pod_memory_mib if sized and sized.pod_memory_mib else heap + 384
        cores = sized.request_cores if sized and sized.request_cores else 1.0
        current = ExecutorSize(heap, pod - heap, 0, 0, max(1, round(cores)), cores, history[0].executors)
        options = SizingOptions(app_name=parsed.app_name, policy=policy, bounds=bounds)
        result = recommend_from_store(store, parsed, current, options, now)
    except EmrSizingError as err:
        raise click.ClickException(str(err)) from err
    finally:
        store.close()
    report = {
        "signature": {"key": parsed.key, "hash": wanted, "app_name": parsed.app_name},
        "as_of": now.isoformat(),
        "assumed_current": {
            "executor_memory_mib": heap,
            "pod_memory_mib": pod,
            "executor_request_cores": cores,
        },
        "recommendation": result.to_json() if isinstance(result, Recommendation) else None,
        "reason": None if isinstance(result, Recommendation) else result.reason,
        "basis": result.basis if isinstance(result, Recommendation) else {"samples": result.samples},
        "policy": policy_json(policy, bounds),
        "history": [_row(o) for o in history],
    }
    click.echo(json.dumps(report, default=str) if output == "json" else _text(report))


def _signature(wanted: str, record: SignatureRecord | None, given: str, newest: Observation) -> Signature:
    """The signature's parts, as its newest run recorded them."""
    from airflow_emr_sizing.signature import Signature

    return Signature(
        key=record.key if record else given,
        hash=wanted,
        app_name=newest.app_name,
        day_of_week=newest.day_of_week if newest.day_of_week is not None else -1,
        hour=newest.hour if newest.hour is not None else -1,
        holiday=bool(newest.holiday),
        resource_spec=newest.resource_spec or "",
    )


class _AsOf:
    """The store as the operator saw it at ``at``: runs that started at or after it are not there.

    Stores read newest first above a lower time bound only, so a read asks for more rows until it
    has ``limit`` runs from before ``at`` or the store has no more.
    """

    def __init__(self, store: MetricsStore, at: datetime) -> None:
        self.store, self.at = store, at
        self.description: str = store.description

    def history(
        self, signature_hash: str, *, limit: int = 500, since: datetime | None = None
    ) -> list[Observation]:
        return self._before(lambda n: self.store.history(signature_hash, limit=n, since=since), limit)

    def app_history(
        self,
        app_name: str,
        *,
        resource_spec: str | None = None,
        limit: int = 500,
        since: datetime | None = None,
    ) -> list[Observation]:
        def read(n: int) -> list[Observation]:
            return self.store.app_history(app_name, resource_spec=resource_spec, limit=n, since=since)

        return self._before(read, limit)

    def _before(self, read: Callable[[int], list[Observation]], limit: int) -> list[Observation]:
        fetch = limit
        while True:
            runs = read(fetch)
            earlier = [o for o in runs if o.started_at < self.at]
            if len(earlier) >= limit or len(runs) < fetch:
                return earlier[:limit]
            fetch *= 4

    def lookup_signature(self, signature_hash: str) -> SignatureRecord | None:
        return self.store.lookup_signature(signature_hash)

    def record(self, observation: Observation) -> None:
        raise TypeError("explain only reads the store")

    def remember_signature(self, signature: Signature) -> None:
        raise TypeError("explain only reads the store")

    def close(self) -> None:
        self.store.close()


_EXTRAS = (
    ("drift", "drift"),
    ("sibling_oom_factor", "sibling OOM"),
    ("oom_floor_mib", "OOM floor"),
    ("heap_share", "heap share"),
    ("clamped", "bounds"),
    ("node_fit", "node fit"),
    ("implausible_peaks", "left out"),
)


def _row(o: Any) -> dict[str, Any]:
    return {
        "job_id": o.job_id,
        "started_at": o.started_at.isoformat(),
        "state": o.state,
        "oom": o.oom,
        "pod_memory_mib": o.pod_memory_mib,
        "peak_pod_memory_mib": o.peak_pod_memory_mib,
        "predicted_peak_mib": o.predicted_peak_mib,
        "predicted_level": o.predicted_level,
        "source": o.source,
    }


def _text(report: dict[str, Any]) -> str:
    signature, basis, rec = report["signature"], report["basis"], report["recommendation"]
    lines = [
        f"signature  {signature['key']}",
        f"hash       {signature['hash']}",
        f"as of      {report['as_of']}",
    ]
    if rec is None:
        lines.append(f"no recommendation: {report['reason']}")
    else:
        lines += [
            f"recommend  spark.executor.memory={rec['executor_memory_mib']}m "
            f"spark.executor.memoryOverhead={rec['executor_memory_overhead_mib']}m "
            f"(pod {rec['pod_memory_mib']} MiB), request cores {rec['executor_request_cores']}",
            f"level      {basis.get('level')} from {basis.get('samples')} run(s): "
            f"predicted need {basis.get('predicted_peak_mib')} MiB",
            f"spread     +{_pct(basis.get('spread'))} ({basis.get('spread_from', 'default')}, "
            f"{basis.get('errors')} past errors) at risk {basis.get('risk')}, "
            f"margin +{_pct(basis.get('margin'))}",
        ]
        for key, label in _EXTRAS:
            if key in basis:
                lines.append(f"{label:<10} {_plain(basis[key])}")
    lines.append("history    (this signature's runs, newest first; a level may pool the app's)")
    for row in report["history"]:
        lines.append(
            f"  {row['started_at'][:16]}  {row['state']:<9} pod {row['pod_memory_mib'] or '-':>6}  "
            f"peak {row['peak_pod_memory_mib'] or '-':>6}  predicted {row['predicted_peak_mib'] or '-':>6} "
            f"{row['predicted_level'] or ''}{'  OOM' if row['oom'] else ''}"
        )
    return "\n".join(lines)


def _plain(value: Any) -> str:
    """A basis value as text: ``a, b`` for a list, ``key value, …`` for a mapping."""
    if isinstance(value, list | tuple):
        return ", ".join(map(_plain, value))
    if isinstance(value, dict):
        return ", ".join(f"{key} {_plain(item)}" for key, item in value.items())
    return str(value)


def _pct(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, int | float) else str(value)
