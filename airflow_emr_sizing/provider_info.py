"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_emr_sizing import __version__
from airflow_emr_sizing.settings import OPTIONS, SECTION

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-emr-sizing",
        "name": "EMR on EKS executor sizing",
        "description": "Right-sizes the Spark executors of EMR on EKS jobs from their own past runs, "
        "at submit time, with a drop-in EmrContainerOperator.",
        "versions": [__version__],
        "operators": [
            {
                "integration-name": "Amazon EMR on EKS",
                "python-modules": ["airflow_emr_sizing.operators.emr"],
            }
        ],
        "config": {
            SECTION: {
                "description": "Executor sizing of EMR on EKS jobs (airflow-emr-sizing).",
                "options": {name: {**option, "version_added": "0.1.0"} for name, option in OPTIONS.items()},
            }
        },
    }
