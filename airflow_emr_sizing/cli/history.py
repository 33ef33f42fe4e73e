"""``emr-sizing history``: a signature's recorded runs, newest first, straight from the store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import click

from airflow_emr_sizing.cli._store import (
    observation_json,
    observation_table,
    open_cli_store,
    resolve_signature,
    store_options,
)

__all__ = ["history"]


@click.command()
@click.argument("signature")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="Most recent runs.")
@click.option("--days", default=None, type=click.FloatRange(min=0), help="Only runs of the last D days.")
@store_options
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def history(
    signature: str, limit: int, days: float | None, conn_id: str | None, path: str | None, output: str
) -> None:
    """Print the runs recorded for SIGNATURE (its key, or its hash as seen on a pod label)."""
    from airflow_emr_sizing.exceptions import StoreError

    signature_hash, key = resolve_signature(signature)
    since = datetime.now(timezone.utc) - timedelta(days=days) if days is not None else None
    store = open_cli_store(conn_id, path)
    try:
        runs = store.history(signature_hash, limit=limit, since=since)
        if key is None:
            record = store.lookup_signature(signature_hash)
            key = record.key if record else None
    except StoreError as err:
        raise click.ClickException(str(err)) from err
    finally:
        store.close()
    if output == "json":
        document = {"hash": signature_hash, "key": key, "observations": [observation_json(r) for r in runs]}
        click.echo(json.dumps(document, ensure_ascii=False))
        return
    click.echo(f"key   {key if key is not None else '(unknown to this store)'}\nhash  {signature_hash}")
    click.echo(f"runs  {len(runs)} (newest first, at most {limit})")
    if runs:
        click.echo(observation_table(runs))
