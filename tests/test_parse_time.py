"""No I/O at DAG parse time: the scheduler imports DAG files constantly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EXAMPLE_DAG = Path(__file__).parents[1] / "example_dags" / "dw_blog_load.py"


def test_parsing_the_example_dag_opens_no_store_socket_or_calendar(airflow_home: Path) -> None:
    probe = textwrap.dedent(
        f"""
        import sys, runpy
        import airflow_emr_sizing.operators.emr  # what every DAG file imports anyway
        events = []
        def audit(event, args):
            if event in ("sqlite3.connect", "socket.connect", "socket.getaddrinfo") or (
                event == "open" and str(args[0]).endswith((".db", ".sqlite"))
            ):
                events.append((event, str(args)[:80]))
        sys.addaudithook(audit)
        namespace = runpy.run_path({str(EXAMPLE_DAG)!r})
        assert len(namespace["dag"].tasks) == 2
        print("EVENTS", events)
        print("HOLIDAYS", "holidays" in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert "EVENTS []" in result.stdout
    assert "HOLIDAYS False" in result.stdout


def test_the_probe_sees_io_when_there_is_some(airflow_home: Path) -> None:
    """The audit hook above is a real detector: opening the store at parse time would be caught."""
    probe = textwrap.dedent(
        """
        import sys
        events = []
        sys.addaudithook(lambda e, a: events.append(e) if e == "sqlite3.connect" else None)
        from airflow_emr_sizing.store import open_store
        open_store(path=":memory:")
        print("EVENTS", events)
        """
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)

    assert "sqlite3.connect" in result.stdout, result.stderr


@pytest.mark.parametrize("module", ["airflow_emr_sizing", "airflow_emr_sizing.provider_info"])
def test_light_modules_do_not_import_airflow_or_boto3(module: str) -> None:
    heavy = ("airflow", "boto3", "holidays")
    probe = f"import sys, {module}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)

    assert result.stdout.strip() == "[]", result.stderr


def test_the_operator_module_leaves_the_sizing_machinery_to_execute(airflow_home: Path) -> None:
    """A DAG file pays for the operator class; store, recommender and collectors load at execute."""
    machinery = (
        "airflow_emr_sizing.plan",
        "airflow_emr_sizing.recommender",
        "airflow_emr_sizing.store",
        "airflow_emr_sizing.collect",
        "airflow_emr_sizing.eventlog",
        "airflow_emr_sizing.signature",
        "airflow_emr_sizing.spark_conf",
    )
    probe = textwrap.dedent(
        f"""
        import sys, runpy
        namespace = runpy.run_path({str(EXAMPLE_DAG)!r})
        assert len(namespace["dag"].tasks) == 2
        print(sorted(m for m in {machinery!r} if m in sys.modules))
        """
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_literal_timezone_is_read_once_however_many_tasks_name_it(airflow_home: Path) -> None:
    """The zone's file is read for the check; a DAG of many tasks must not read it per task."""
    probe = textwrap.dedent(
        """
        import sys
        from airflow_emr_sizing.operators.emr import EmrContainerOperator
        opened = []
        sys.addaudithook(lambda e, a: opened.append(a[0]) if e == "open" and "Seoul" in str(a[0]) else None)
        job = {"name": "n", "virtual_cluster_id": "v", "execution_role_arn": "a",
               "release_label": "emr-7.2.0-latest", "job_driver": {}}
        for i in range(5):
            EmrContainerOperator(task_id=f"t{i}", timezone="Asia/Seoul", **job)
        print("OPENED", len(opened))
        """
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert "OPENED 1" in result.stdout, result.stdout
