"""airflow-emr-sizing: right-size EMR on EKS Spark executors from their own past runs.

The operator lives in :mod:`airflow_emr_sizing.operators.emr`; importing this package stays cheap
(no Airflow or AWS imports) so DAG parsing is not slowed down.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
