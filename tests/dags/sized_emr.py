"""DAGs the integration tests run with dag.test(); every sizing argument comes from dag_run.conf."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_emr_sizing.operators.emr import EmrContainerOperator

CONF = "{{{{ dag_run.conf.get('{0}', '{1}') }}}}"
SECRET = "wJalrXUtnFEMI-K7MDENG-SuperSecret"


def sized_dag(dag_id: str, deferrable: bool) -> DAG:
    with DAG(
        dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Seoul"), catchup=False
    ) as dag:
        EmrContainerOperator(
            task_id="load",
            name="dw-blog-load",
            virtual_cluster_id="{{ dag_run.conf['virtual_cluster_id'] }}",
            execution_role_arn="arn:aws:iam::123456789012:role/dw-emr-job",
            release_label="emr-7.2.0-latest",
            job_driver={
                "sparkSubmitJobDriver": {
                    "entryPoint": "s3://dw-jobs/blog/load_posts.py",
                    "sparkSubmitParameters": (
                        "--conf spark.executor.instances=10 --conf spark.executor.memory=8g "
                        f"--conf spark.executor.cores=4 --conf spark.hadoop.fs.s3a.secret.key={SECRET}"
                    ),
                }
            },
            configuration_overrides={
                "applicationConfiguration": [
                    {"classification": "spark-defaults", "properties": {"spark.sql.shuffle.partitions": "64"}}
                ]
            },
            aws_conn_id=None,
            region_name="us-east-1",
            poll_interval=1,
            deferrable=deferrable,
            dry_run=CONF.format("dry_run", "false"),
            sizing_mode=CONF.format("sizing_mode", "initial"),
            holiday_country="KR",
            event_log_dir=CONF.format("event_log_dir", ""),
        )
    return dag


sized_sync = sized_dag("sized_sync", deferrable=False)
sized_deferrable = sized_dag("sized_deferrable", deferrable=True)


def _driver(entry_point: str, executors: int) -> dict[str, object]:
    return {
        "sparkSubmitJobDriver": {
            "entryPoint": entry_point,
            "sparkSubmitParameters": (
                f"--conf spark.executor.instances={executors} --conf spark.executor.memory=8g"
            ),
        }
    }


with DAG(
    "sized_mapped", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Seoul"), catchup=False
) as sized_mapped:
    # one loader per table: dynamic task mapping, with sizing arguments in partial()
    EmrContainerOperator.partial(
        task_id="load",
        virtual_cluster_id="{{ dag_run.conf['virtual_cluster_id'] }}",
        execution_role_arn="arn:aws:iam::123456789012:role/dw-emr-job",
        release_label="emr-7.2.0-latest",
        aws_conn_id=None,
        region_name="us-east-1",
        poll_interval=1,
        dry_run=False,
        holiday_country="KR",
        event_log_dir=CONF.format("event_log_dir", ""),
    ).expand_kwargs(
        [
            {"name": "dw-posts-load", "job_driver": _driver("s3://dw-jobs/blog/posts.py", 10)},
            {"name": "dw-users-load", "job_driver": _driver("s3://dw-jobs/blog/users.py", 4)},
        ]
    )
