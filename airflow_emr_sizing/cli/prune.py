"""``emr-sizing prune``: apply the retention limits to the store (run it daily, e.g. from a DAG)."""

from __future__ import annotations

import json

import click

from airflow_emr_sizing.cli._store import open_cli_store, store_options

__all__ = ["prune"]


@click.command()
@click.option(
    "--keep-last",
    type=click.IntRange(min=0),
    default=None,
    help="Runs kept per signature, newest first "
    "(default: [emr_sizing] retention_max_runs_per_signature; 0 = no cap).",
)
@click.option(
    "--max-age-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Drop runs that started longer ago (default: [emr_sizing] retention_days; 0 = no limit).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@store_options
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def prune(
    keep_last: int | None,
    max_age_days: float | None,
    dry_run: bool,
    conn_id: str | None,
    path: str | None,
    output: str,
) -> None:
    """Remove observations beyond the per-signature cap or older than the age limit."""
    from airflow_emr_sizing import retention
    from airflow_emr_sizing.exceptions import EmrSizingError
    from airflow_emr_sizing.settings import load_settings

    try:
        if keep_last is None or max_age_days is None:
            settings = load_settings()
            keep_last = settings.retention_max_runs_per_signature if keep_last is None else keep_last
            max_age_days = settings.retention_days if max_age_days is None else max_age_days
        policy = retention.RetentionPolicy(keep_last=keep_last, max_age_days=max_age_days)
    except EmrSizingError as err:
        raise click.ClickException(str(err)) from err
    store = open_cli_store(conn_id, path)
    try:
        removed = retention.prune(store, policy, dry_run=dry_run)
    except EmrSizingError as err:
        raise click.ClickException(str(err)) from err
    finally:
        store.close()
    if output == "json":
        document = {
            "store": store.description,
            "dry_run": dry_run,
            "keep_last": policy.cap,
            "max_age_days": policy.max_age_days or None,
            "removed": 0 if dry_run else removed,
            "would_remove": removed if dry_run else None,
        }
        click.echo(json.dumps(document))
        return
    verb = "would remove" if dry_run else "removed"
    limits = f"keep last {policy.cap or 'all'} per signature, max age {policy.max_age_days or 'none'} days"
    click.echo(f"{verb} {removed} observations from {store.description} ({limits})")
