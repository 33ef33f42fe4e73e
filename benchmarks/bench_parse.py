"""DAG-parse cost: a DAG of 200 sized operators vs the same DAG of 200 plain EmrContainerOperators.

Parsing is what Airflow's DAG processor does with a file: build the DAG, then serialize it to JSON
for the scheduler and UI. Both are measured; building alone is printed too. Module imports are
printed separately: Airflow's DAG processor imports a file's ``airflow.*`` modules once and forks
a process per parse, so a plain file's operator module is loaded already and ours is not.
"""

from __future__ import annotations

import json
import sys

from common import import_ms, interleaved, setup_airflow

OPERATORS = 200
TARGET = 1.05
PLAIN_MODULE = "airflow.providers.amazon.aws.operators.emr"
SIZED_MODULE = "airflow_emr_sizing.operators.emr"


def build(operator_class: type, sized: bool) -> object:
    import pendulum
    from airflow.sdk import DAG

    extra = {"holiday_country": "KR", "max_executor_memory": "24g", "dry_run": False} if sized else {}
    with DAG(
        "parse_bench", schedule="@hourly", start_date=pendulum.datetime(2026, 1, 1), catchup=False
    ) as dag:
        for i in range(OPERATORS):
            operator_class(
                task_id=f"load_{i}",
                name=f"dw-load-{i}",
                virtual_cluster_id="{{ var.value.vc }}",
                execution_role_arn="arn:aws:iam::123456789012:role/job",
                release_label="emr-7.2.0-latest",
                job_driver={
                    "sparkSubmitJobDriver": {
                        "entryPoint": "s3://jobs/load.py",
                        "sparkSubmitParameters": "--conf spark.executor.instances=10 "
                        "--conf spark.executor.memory=8g",
                    }
                },
                configuration_overrides={"monitoringConfiguration": {}},
                **extra,
            )
    return dag


def parse(operator_class: type, sized: bool) -> str:
    from airflow.serialization.serialized_objects import DagSerialization

    return json.dumps(DagSerialization.to_dict(build(operator_class, sized)))


def main() -> tuple[str, float, float]:
    setup_airflow()
    from airflow.providers.amazon.aws.operators.emr import EmrContainerOperator as Plain

    from airflow_emr_sizing.operators.emr import EmrContainerOperator as Sized

    parse(Plain, False), parse(Sized, True)  # warm imports and caches for both
    build_plain, build_sized = interleaved(lambda: build(Plain, False), lambda: build(Sized, True), rounds=30)
    print(
        f"[parse] building only: plain {build_plain * 1e3:.1f} ms, sized {build_sized * 1e3:.1f} ms, "
        f"ratio {build_sized / build_plain:.3f}"
    )
    plain, sized = interleaved(lambda: parse(Plain, False), lambda: parse(Sized, True), rounds=30)
    ratio = sized / plain
    print(
        f"[parse] build + serialize {OPERATORS} operators: plain {plain * 1e3:.1f} ms, "
        f"sized {sized * 1e3:.1f} ms, ratio {ratio:.3f}"
    )
    # Airflow's DAG processor imports a file's `airflow.*` imports once, then forks a process per
    # parse: a plain file's operator module is already loaded there, ours is not.
    provider_ms = import_ms([PLAIN_MODULE])
    ours_ms = import_ms([SIZED_MODULE], after=("airflow.sdk", PLAIN_MODULE))
    print(
        f"[parse] imports per parse of a DAG file (Airflow pre-imports `airflow.*` modules only): "
        f"plain none; sized {provider_ms + ours_ms:.1f} ms ({PLAIN_MODULE} {provider_ms:.1f} ms + "
        f"{SIZED_MODULE} {ours_ms:.1f} ms), or {ours_ms:.1f} ms when the file also names "
        f"{PLAIN_MODULE} (the README's tip)"
    )
    return f"DAG parse, {OPERATORS} sized vs plain operators", ratio, TARGET


if __name__ == "__main__":
    sys.exit(0 if main()[1] <= TARGET else 1)
