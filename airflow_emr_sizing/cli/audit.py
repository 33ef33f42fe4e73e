"""``emr-sizing audit``: what a signature label value seen on a pod stands for, from the store.

XCom is cleaned up sooner or later; the store keeps the key ↔ hash mapping and the runs, so a label
value found on a pod (or in Prometheus) can still be traced to its key and its past runs.
"""

from __future__ import annotations

import json

import click

from airflow_emr_sizing.cli._store import (
    observation_json,
    observation_table,
    open_cli_store,
    resolve_signature,
    store_options,
)

__all__ = ["audit"]


@click.command()
@click.argument("signature_hash", metavar="HASH")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Most recent runs.")
@store_options
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def audit(signature_hash: str, limit: int, conn_id: str | None, path: str | None, output: str) -> None:
    """Print the signature key behind the label value HASH and the runs recorded under it."""
    from airflow_emr_sizing.exceptions import StoreError

    signature_hash, _ = resolve_signature(signature_hash, "'HASH'")
    store = open_cli_store(conn_id, path)
    try:
        record = store.lookup_signature(signature_hash)
        runs = store.history(signature_hash, limit=limit)
    except StoreError as err:
        raise click.ClickException(str(err)) from err
    finally:
        store.close()
    if record is None and not runs:
        raise click.ClickException(f"no signature with hash {signature_hash} in {store.description}")
    if output == "json":
        signature = None
        if record is not None:
            signature = {
                "key": record.key,
                "app_name": record.app_name,
                "format_version": record.format_version,
            }
        document = {
            "hash": signature_hash,
            "signature": signature,
            "store": store.description,
            "observations": [observation_json(r) for r in runs],
        }
        click.echo(json.dumps(document, ensure_ascii=False))
        return
    if record is None:
        click.echo(f"hash  {signature_hash}\nkey   (no mapping recorded; runs below)")
    else:
        click.echo(
            f"hash  {signature_hash}\nkey   {record.key}\napp   {record.app_name}\n"
            f"key format version {record.format_version}"
        )
    click.echo(f"runs  {len(runs)} most recent (at most {limit}) in {store.description}")
    if runs:
        click.echo(observation_table(runs))
