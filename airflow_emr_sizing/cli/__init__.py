"""``emr-sizing``: the package's command line.

Each command lives in its own module here and is registered below; imports stay inside the
commands so ``emr-sizing --help`` is instant.
"""

from __future__ import annotations

import click

from airflow_emr_sizing import __version__
from airflow_emr_sizing.cli.audit import audit
from airflow_emr_sizing.cli.backtest import backtest
from airflow_emr_sizing.cli.eventlog import eventlog
from airflow_emr_sizing.cli.explain import explain
from airflow_emr_sizing.cli.history import history
from airflow_emr_sizing.cli.holidays import holidays
from airflow_emr_sizing.cli.prune import prune
from airflow_emr_sizing.cli.signature import signature

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="emr-sizing")
def main() -> None:
    """Right-size EMR on EKS Spark executors from their own past runs."""


main.add_command(signature)
main.add_command(eventlog)
main.add_command(backtest)
main.add_command(explain)
main.add_command(history)
main.add_command(audit)
main.add_command(prune)
main.add_command(holidays)
