"""DAG-parse cost: a DAG file of 200 sized operators vs the same file with 200 plain EmrContainerOperators.

The ratio is measured on what Airflow's DAG processor runs for each file it parses:
``airflow.dag_processing.processor._parse_file`` (a DagBag imports the file, which builds the DAG;
the DAG is checked and serialized), then the result is encoded as it is for the DAG-file manager.
The narrower figure of building the DAG in code and serializing it is printed too, and so is
building alone. Module imports are printed separately: Airflow's DAG processor imports a file's
``airflow.*`` modules once and forks a process per parse, so a plain file's operator module is
loaded already and ours is not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from common import BENCH_HOME, import_ms, interleaved, setup_airflow

OPERATORS = 200
TARGET = 1.05
PLAIN_MODULE = "airflow.providers.amazon.aws.operators.emr"
SIZED_MODULE = "airflow_emr_sizing.operators.emr"
SIZING_ARGUMENTS = {"holiday_country": "KR", "max_executor_memory": "24g", "dry_run": False}
JOB = {
    "virtual_cluster_id": "{{ var.value.vc }}",
    "execution_role_arn": "arn:aws:iam::123456789012:role/job",
    "release_label": "emr-7.2.0-latest",
    "job_driver": {
        "sparkSubmitJobDriver": {
            "entryPoint": "s3://jobs/load.py",
            "sparkSubmitParameters": "--conf spark.executor.instances=10 --conf spark.executor.memory=8g",
        }
    },
    "configuration_overrides": {"monitoringConfiguration": {}},
}


def dag_file(folder: Path, module: str, sized: bool) -> Path:
    """A DAG file as a team would write it: one DAG, OPERATORS load tasks."""
    path = folder / ("sized.py" if sized else "plain.py")
    path.write_text(
        "import pendulum\n"
        "from airflow.sdk import DAG\n"
        f"from {module} import EmrContainerOperator\n\n"
        f"JOB = {JOB!r}\n"
        f"SIZING = {SIZING_ARGUMENTS if sized else {}!r}\n\n"
        f'with DAG("parse_bench_{path.stem}", schedule="@hourly", '
        "start_date=pendulum.datetime(2026, 1, 1), catchup=False):\n"
        f"    for i in range({OPERATORS}):\n"
        '        EmrContainerOperator(task_id=f"load_{i}", name=f"dw-load-{i}", **JOB, **SIZING)\n'
    )
    return path


def parse_file(path: Path) -> str:
    """Airflow's own parse of one DAG file, and its result encoded for the manager."""
    import structlog
    from airflow.dag_processing.processor import DagFileParseRequest, _parse_file

    request = DagFileParseRequest(file=str(path), bundle_path=path.parent, bundle_name="bench")
    result = _parse_file(request, structlog.get_logger())
    if result is None or len(result.serialized_dags) != 1 or result.import_errors:
        raise RuntimeError(f"{path} did not parse: {result and result.import_errors}")
    return result.model_dump_json()


def build(operator_class: type, sized: bool) -> object:
    """The same DAG built in code."""
    import pendulum
    from airflow.sdk import DAG

    sizing = SIZING_ARGUMENTS if sized else {}
    with DAG(
        "parse_bench", schedule="@hourly", start_date=pendulum.datetime(2026, 1, 1), catchup=False
    ) as dag:
        for i in range(OPERATORS):
            operator_class(task_id=f"load_{i}", name=f"dw-load-{i}", **JOB, **sizing)
    return dag


def serialize(operator_class: type, sized: bool) -> str:
    from airflow.serialization.serialized_objects import DagSerialization

    return json.dumps(DagSerialization.to_dict(build(operator_class, sized)))


def main() -> tuple[str, float, float]:
    setup_airflow()
    from airflow.providers.amazon.aws.operators.emr import EmrContainerOperator as Plain

    from airflow_emr_sizing.operators.emr import EmrContainerOperator as Sized

    folder = BENCH_HOME / "parse"
    folder.mkdir(parents=True, exist_ok=True)
    plain_file, sized_file = dag_file(folder, PLAIN_MODULE, False), dag_file(folder, SIZED_MODULE, True)
    parse_file(plain_file), parse_file(sized_file)  # warm imports and caches for both
    serialize(Plain, False), serialize(Sized, True)

    build_plain, build_sized = interleaved(lambda: build(Plain, False), lambda: build(Sized, True), rounds=30)
    print(
        f"[parse] building only: plain {build_plain * 1e3:.1f} ms, sized {build_sized * 1e3:.1f} ms "
        f"(+{(build_sized - build_plain) / OPERATORS * 1e6:.1f} µs per operator), "
        f"ratio {build_sized / build_plain:.3f}"
    )
    plain, sized = interleaved(lambda: serialize(Plain, False), lambda: serialize(Sized, True), rounds=30)
    print(
        f"[parse] build + serialize {OPERATORS} operators in code: plain {plain * 1e3:.1f} ms, "
        f"sized {sized * 1e3:.1f} ms, ratio {sized / plain:.3f}"
    )
    plain, sized = interleaved(lambda: parse_file(plain_file), lambda: parse_file(sized_file), rounds=30)
    ratio = sized / plain
    print(
        f"[parse] Airflow's parse of a DAG file of {OPERATORS} operators (_parse_file + result): "
        f"plain {plain * 1e3:.1f} ms, sized {sized * 1e3:.1f} ms "
        f"(+{(sized - plain) / OPERATORS * 1e6:.1f} µs per operator), ratio {ratio:.3f}"
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
