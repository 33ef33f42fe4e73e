"""``emr-sizing explain``: why a signature gets the size it gets, from the store."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click

__all__ = ["explain"]


@click.command()
@click.argument("signature")
@click.option("--conn-id", default=None, help="Airflow connection of the store (default: [emr_sizing]).")
@click.option("--store-path", default=None, help="SQLite store file (default: [emr_sizing] store_path).")
@click.option("--at", "at", default=None, help="Explain as of this moment (ISO-8601); default now.")
@click.option("--risk", type=float, default=None, help="Acceptable under-provisioning share (default 0.005).")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain(
    signature: str,
    conn_id: str | None,
    store_path: str | None,
    at: str | None,
    risk: float | None,
    output: str,
) -> None:
    """Show the history, level, spread, drift, OOM floors, bounds and node fit behind SIGNATURE.

    SIGNATURE is a key (dw-blog-load-day-5-hour-14-dra-off-exec-10) or the hash on a pod's label.
    """
    from airflow_emr_sizing.exceptions import EmrSizingError
    from airflow_emr_sizing.plan import SizingOptions, recommend_from_store
    from airflow_emr_sizing.recommender import Policy, Recommendation
    from airflow_emr_sizing.settings import load_settings
    from airflow_emr_sizing.signature import LABEL_VALUE_PATTERN, Signature, signature_hash
    from airflow_emr_sizing.spark_conf import ExecutorSize
    from airflow_emr_sizing.store import open_store

    settings = load_settings()
    now = datetime.fromisoformat(at) if at else datetime.now(timezone.utc)
    try:
        store = open_store(conn_id or settings.store_conn_id, store_path or settings.store_path)
        wanted = signature if signature.startswith("s1-") and LABEL_VALUE_PATTERN.match(signature) else None
        wanted = wanted or signature_hash(signature)
        history = store.history(wanted, limit=50)
        record = store.lookup_signature(wanted)
    except EmrSizingError as err:
        raise click.ClickException(str(err)) from err
    if not history:
        raise click.ClickException(
            f"no runs recorded for {signature!r} (hash {wanted}) in {store.description}"
        )
    newest = history[0]
    parsed = Signature(
        key=record.key if record else signature,
        hash=wanted,
        app_name=newest.app_name,
        day_of_week=newest.day_of_week if newest.day_of_week is not None else -1,
        hour=newest.hour if newest.hour is not None else -1,
        holiday=bool(newest.holiday),
        resource_spec=newest.resource_spec or "",
    )
    sized = next((o for o in history if o.heap_mib and o.pod_memory_mib), None)
    heap = sized.heap_mib if sized and sized.heap_mib else 1024
    pod = sized.pod_memory_mib if sized and sized.pod_memory_mib else heap + 384
    cores = sized.request_cores if sized and sized.request_cores else 1.0
    current = ExecutorSize(heap, pod - heap, 0, 0, max(1, round(cores)), cores, newest.executors)
    options = SizingOptions(app_name=parsed.app_name, policy=Policy(risk=risk) if risk else Policy())
    result = recommend_from_store(store, parsed, current, options, now)
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
        "policy": {
            "risk": options.policy.risk,
            "margin": options.policy.margin,
            "lookback_days": options.policy.lookback_days,
        },
        "history": [_row(o) for o in history],
    }
    click.echo(json.dumps(report, default=str) if output == "json" else _text(report))


_EXTRAS = (
    ("drift", "drift"),
    ("sibling_oom_factor", "sibling OOM"),
    ("oom_floor_mib", "OOM floor"),
    ("heap_share", "heap share"),
    ("clamped", "bounds"),
    ("node_fit", "node fit"),
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
                lines.append(f"{label:<10} {basis[key]}")
    lines.append("history    (newest first)")
    for row in report["history"]:
        lines.append(
            f"  {row['started_at'][:16]}  {row['state']:<9} pod {row['pod_memory_mib'] or '-':>6}  "
            f"peak {row['peak_pod_memory_mib'] or '-':>6}  predicted {row['predicted_peak_mib'] or '-':>6} "
            f"{row['predicted_level'] or ''}{'  OOM' if row['oom'] else ''}"
        )
    return "\n".join(lines)


def _pct(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, int | float) else str(value)
