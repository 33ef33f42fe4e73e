"""Hourly DW load of the blog service on EMR on EKS, with executor sizing.

The same shape as the original team's jobs: an hourly PySpark load whose volume follows the
Korean working day, then an hourly Spark SQL aggregate. The load applies the recommended executor
size; the aggregate is still in dry run (sized, but only reported in its XCom audit).

The only change from a plain amazon-provider DAG is the import of ``EmrContainerOperator`` and the
sizing arguments. The amazon provider's module is named as well so that Airflow's DAG processor
pre-imports it (it pre-imports ``airflow.*`` modules only) instead of each parse importing it.
"""

from __future__ import annotations

import airflow.providers.amazon.aws.operators.emr  # noqa: F401  (pre-imported by the DAG processor)
import pendulum
from airflow.sdk import DAG

from airflow_emr_sizing.operators.emr import EmrContainerOperator

KST = pendulum.timezone("Asia/Seoul")
EMR = {
    "virtual_cluster_id": "{{ var.value.dw_emr_virtual_cluster_id }}",
    "execution_role_arn": "{{ var.value.dw_emr_job_role_arn }}",
    "release_label": "emr-7.2.0-latest",
    "aws_conn_id": "aws_default",
    "poll_interval": 30,
    "holiday_country": "KR",
    "max_executor_memory": "24g",
    # Each run logs its Spark events to its own folder here; what its executors used is read back.
    "event_log_dir": "s3://dw-emr-logs/spark-events",
}
LOGS = {"s3MonitoringConfiguration": {"logUri": "s3://dw-emr-logs/blog/"}}

with DAG(
    dag_id="dw_blog_hourly",
    schedule="5 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz=KST),
    catchup=False,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5)},
    tags=["dw", "blog", "emr-on-eks"],
) as dag:
    load_posts = EmrContainerOperator(
        task_id="load_blog_posts",
        name="dw-blog-load",
        job_driver={
            "sparkSubmitJobDriver": {
                "entryPoint": "s3://dw-jobs/blog/load_posts.py",
                "entryPointArguments": ["--hour", "{{ logical_date.in_timezone('Asia/Seoul').isoformat() }}"],
                "sparkSubmitParameters": (
                    "--conf spark.executor.instances=10 --conf spark.executor.memory=8g "
                    "--conf spark.executor.cores=4 --conf spark.dynamicAllocation.enabled=false "
                    "--py-files s3://dw-jobs/blog/deps.zip"
                ),
            }
        },
        configuration_overrides={
            "applicationConfiguration": [
                {
                    "classification": "spark-defaults",
                    "properties": {"spark.sql.shuffle.partitions": "200"},
                }
            ],
            "monitoringConfiguration": LOGS,
        },
        sizing_mode="initial",
        dry_run=False,
        **EMR,
    )

    aggregate_stats = EmrContainerOperator(
        task_id="aggregate_blog_stats",
        name="dw-blog-stats",
        job_driver={
            "sparkSqlJobDriver": {
                "entryPoint": "s3://dw-jobs/blog/hourly_stats.sql",
                "sparkSqlParameters": (
                    "--conf spark.dynamicAllocation.enabled=true "
                    "--conf spark.dynamicAllocation.minExecutors=2 "
                    "--conf spark.dynamicAllocation.maxExecutors=20 "
                    "--conf spark.executor.memory=6g --conf spark.executor.cores=2"
                ),
            }
        },
        configuration_overrides={"monitoringConfiguration": LOGS},
        dry_run=True,
        **EMR,
    )

    load_posts >> aggregate_stats
