"""Writing sizing into a StartJobRun request where each value takes effect, within StartJobRun's limits."""

from __future__ import annotations

import copy
import json
import shlex
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_emr_sizing.exceptions import SizingRefused
from airflow_emr_sizing.injection import Change, Injected, inject, label_conf, yunikorn_values
from airflow_emr_sizing.spark_conf import read_job_conf

JAR = "s3://bucket/jobs/app.jar"
TASK_GROUPS = "spark.kubernetes.driver.annotation.yunikorn.apache.org/task-groups"
EXECUTOR_GROUP = "spark.kubernetes.executor.annotation.yunikorn.apache.org/task-group-name"


def submit(params: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"entryPoint": JAR, "entryPointArguments": ["--date", "2026-03-06"]}
    if params is not None:
        spec["sparkSubmitParameters"] = params
    return {"sparkSubmitJobDriver": spec}


def defaults(properties: dict[str, str], *others: dict[str, Any]) -> dict[str, Any]:
    return {
        "applicationConfiguration": [{"classification": "spark-defaults", "properties": properties}, *others],
        "monitoringConfiguration": {"persistentAppUI": "ENABLED"},
    }


def run_inject(
    job_driver: dict[str, Any], overrides: dict[str, Any] | None, values: dict[str, str]
) -> Injected:
    """inject(), checking it leaves every input exactly as it was."""
    before = copy.deepcopy((job_driver, overrides, values))
    result = inject(job_driver, overrides, values)
    assert (job_driver, overrides, values) == before
    return result


def params_of(result: Injected) -> str:
    return result.job_driver["sparkSubmitJobDriver"]["sparkSubmitParameters"]


def spark_defaults(result: Injected) -> dict[str, str]:
    (classification,) = [
        c
        for c in result.configuration_overrides["applicationConfiguration"]
        if c["classification"] == "spark-defaults"
    ]
    return classification["properties"]


# --- parameters, in place --------------------------------------------------------------------------


def test_replaces_conf_in_parameters_keeping_other_words_as_written() -> None:
    params = (
        "--class org.example.Main --conf 'spark.driver.extraJavaOptions=-Da=1 -Db=2' "
        '--conf spark.executor.memory=4g  --jars "s3://b/x.jar"\t--conf spark.executor.cores=2'
    )
    result = run_inject(submit(params), None, {"spark.executor.memory": "6g"})
    assert params_of(result) == (
        "--class org.example.Main --conf 'spark.driver.extraJavaOptions=-Da=1 -Db=2' "
        '--conf spark.executor.memory=6g  --jars "s3://b/x.jar"\t--conf spark.executor.cores=2'
    )
    assert result.changes == (Change("spark.executor.memory", "4g", "6g", "parameters"),)
    # Nothing was needed in spark-defaults.
    assert not any(
        c.get("classification") == "spark-defaults"
        for c in result.configuration_overrides.get("applicationConfiguration", [])
    )
    # The rest of the driver spec is untouched.
    assert result.job_driver["sparkSubmitJobDriver"]["entryPoint"] == JAR
    assert result.job_driver["sparkSubmitJobDriver"]["entryPointArguments"] == ["--date", "2026-03-06"]


@pytest.mark.parametrize(
    ("params", "value", "expected"),
    [
        ('--conf "spark.executor.memory=4g" --name x', "6g", "--conf spark.executor.memory=6g --name x"),
        ("--conf=spark.executor.memory=4g --name x", "6g", "--conf=spark.executor.memory=6g --name x"),
        ("-c spark.executor.memory=4g", "6g", "-c spark.executor.memory=6g"),
        ("--executor-memory 4g --name x", "6g", "--executor-memory 6g --name x"),
        ("--executor-memory=4g", "6g", "--executor-memory=6g"),
        ("--executor-memory '4g' -v", "6144m", "--executor-memory 6144m -v"),
        (
            '--conf "spark.executor.extraJavaOptions=-Dx=1" --verbose',
            "-Dx=1 -Dy='2'",
            "--conf 'spark.executor.extraJavaOptions=-Dx=1 -Dy='\"'\"'2'\"'\"'' --verbose",
        ),
    ],
)
def test_in_place_forms(params: str, value: str, expected: str) -> None:
    key = "spark.executor.extraJavaOptions" if "extraJava" in params else "spark.executor.memory"
    result = run_inject(submit(params), None, {key: value})
    assert params_of(result) == expected
    assert read_job_conf(result.job_driver, result.configuration_overrides).get(key) == value


def test_replaces_both_flag_and_conf_of_the_same_key() -> None:
    params = "--conf spark.executor.memory=8g --class Main --executor-memory 4g"
    result = run_inject(
        submit(params), defaults({"spark.executor.memory": "1g"}), {"spark.executor.memory": "6g"}
    )
    assert params_of(result) == "--conf spark.executor.memory=6g --class Main --executor-memory 6g"
    assert result.changes == (Change("spark.executor.memory", "4g", "6g", "parameters"),)
    assert spark_defaults(result) == {"spark.executor.memory": "1g"}  # loses to the parameters anyway


def test_replaces_every_repeated_conf() -> None:
    params = "--conf spark.executor.cores=1 --conf spark.executor.cores=3"
    result = run_inject(submit(params), None, {"spark.executor.cores": "2"})
    assert params_of(result) == "--conf spark.executor.cores=2 --conf spark.executor.cores=2"


def test_parameters_and_spark_defaults_in_one_call() -> None:
    params = "--num-executors 4 --conf spark.executor.memory=4g"
    overrides = defaults({"spark.executor.cores": "2", "spark.eventLog.enabled": "true"})
    values = {
        "spark.executor.memory": "5g",
        "spark.executor.memoryOverhead": "1024m",
        "spark.executor.cores": "3",
        "spark.executor.instances": "4",  # already so: skipped
    }
    result = run_inject(submit(params), overrides, values)
    assert params_of(result) == "--num-executors 4 --conf spark.executor.memory=5g"
    assert spark_defaults(result) == {
        "spark.executor.cores": "3",
        "spark.eventLog.enabled": "true",
        "spark.executor.memoryOverhead": "1024m",
    }
    assert set(result.changes) == {
        Change("spark.executor.memory", "4g", "5g", "parameters"),
        Change("spark.executor.memoryOverhead", None, "1024m", "spark-defaults"),
        Change("spark.executor.cores", "2", "3", "spark-defaults"),
    }
    assert result.configuration_overrides["monitoringConfiguration"] == {"persistentAppUI": "ENABLED"}


# --- spark-defaults -------------------------------------------------------------------------------


def test_creates_spark_defaults_when_there_are_no_overrides() -> None:
    result = run_inject(submit("--class Main"), None, {"spark.executor.memory": "6g"})
    assert result.configuration_overrides == {
        "applicationConfiguration": [
            {"classification": "spark-defaults", "properties": {"spark.executor.memory": "6g"}}
        ]
    }
    assert params_of(result) == "--class Main"
    assert result.changes == (Change("spark.executor.memory", None, "6g", "spark-defaults"),)


def test_creates_spark_defaults_next_to_other_classifications() -> None:
    log4j = {"classification": "spark-log4j", "properties": {"rootLogger.level": "WARN"}}
    overrides = {"applicationConfiguration": [log4j], "monitoringConfiguration": {"x": 1}}
    result = run_inject(submit(None), overrides, {"spark.executor.cores": "2"})
    assert result.configuration_overrides == {
        "applicationConfiguration": [
            log4j,
            {"classification": "spark-defaults", "properties": {"spark.executor.cores": "2"}},
        ],
        "monitoringConfiguration": {"x": 1},
    }


def test_updates_existing_spark_defaults_keeping_other_properties() -> None:
    log4j = {"classification": "spark-log4j", "properties": {"rootLogger.level": "WARN"}}
    overrides = defaults({"spark.executor.memory": "4g", "spark.dynamicAllocation.enabled": "false"}, log4j)
    result = run_inject(submit("--class Main"), overrides, {"spark.executor.memory": "6g"})
    assert result.configuration_overrides["applicationConfiguration"] == [
        {
            "classification": "spark-defaults",
            "properties": {"spark.executor.memory": "6g", "spark.dynamicAllocation.enabled": "false"},
        },
        log4j,
    ]
    assert result.changes == (Change("spark.executor.memory", "4g", "6g", "spark-defaults"),)
    assert params_of(result) == "--class Main"


def test_keys_already_equal_are_skipped() -> None:
    job_driver = submit("--executor-memory 4g")
    overrides = defaults({"spark.executor.cores": "2"})
    result = run_inject(job_driver, overrides, {"spark.executor.memory": "4g", "spark.executor.cores": "2"})
    assert result.changes == ()
    assert result.job_driver == job_driver
    assert result.configuration_overrides == overrides


def test_outputs_do_not_share_state_with_inputs() -> None:
    job_driver = submit("--conf spark.executor.memory=4g")
    overrides = defaults({"spark.executor.cores": "2"})
    result = run_inject(job_driver, overrides, {"spark.executor.memory": "6g", "spark.executor.cores": "3"})
    result.job_driver["sparkSubmitJobDriver"]["entryPointArguments"].append("mutated")
    result.configuration_overrides["monitoringConfiguration"]["persistentAppUI"] = "DISABLED"
    assert job_driver["sparkSubmitJobDriver"]["entryPointArguments"] == ["--date", "2026-03-06"]
    assert overrides["monitoringConfiguration"] == {"persistentAppUI": "ENABLED"}
    assert overrides["applicationConfiguration"][0]["properties"] == {"spark.executor.cores": "2"}


def test_spark_sql_job_driver() -> None:
    job_driver = {
        "sparkSqlJobDriver": {
            "entryPoint": "s3://bucket/q.sql",
            "sparkSqlParameters": "--conf spark.executor.memory=4g --conf spark.sql.shuffle.partitions=200",
        }
    }
    result = run_inject(job_driver, None, {"spark.executor.memory": "6g", "spark.executor.cores": "2"})
    assert result.job_driver == {
        "sparkSqlJobDriver": {
            "entryPoint": "s3://bucket/q.sql",
            "sparkSqlParameters": "--conf spark.executor.memory=6g --conf spark.sql.shuffle.partitions=200",
        }
    }
    assert spark_defaults(result) == {"spark.executor.cores": "2"}


# --- StartJobRun limits ---------------------------------------------------------------------------


def padded_params(total: int) -> str:
    head = "--conf spark.executor.memory=1g --conf spark.pad="
    params = head + "x" * (total - len(head))
    assert len(params) == total
    return params


def test_parameters_at_the_limit_are_fine() -> None:
    result = run_inject(submit(padded_params(102_400)), None, {"spark.executor.memory": "2g"})
    assert len(params_of(result)) == 102_400


def test_parameters_over_the_limit_are_refused() -> None:
    job_driver = submit(padded_params(102_400))
    with pytest.raises(SizingRefused, match="102400"):
        run_inject(job_driver, None, {"spark.executor.memory": "10g"})


def test_one_hundred_properties_is_fine() -> None:
    properties = {f"spark.custom.k{i}": "v" for i in range(99)}
    result = run_inject(submit(None), defaults(properties), {"spark.executor.memory": "2g"})
    assert len(spark_defaults(result)) == 100


def test_more_than_one_hundred_properties_refused() -> None:
    properties = {f"spark.custom.k{i}": "v" for i in range(100)}
    overrides = defaults(properties)
    with pytest.raises(SizingRefused, match="100"):
        run_inject(submit(None), overrides, {"spark.executor.memory": "2g"})
    # Changing one of the 100 existing keys adds none: allowed.
    result = run_inject(submit(None), overrides, {"spark.custom.k7": "w"})
    assert spark_defaults(result)["spark.custom.k7"] == "w"


def test_value_longer_than_1024_chars_refused() -> None:
    result = run_inject(submit(None), None, {"spark.executor.extraJavaOptions": "x" * 1024})
    assert spark_defaults(result)["spark.executor.extraJavaOptions"] == "x" * 1024
    with pytest.raises(SizingRefused, match="1024"):
        run_inject(submit(None), None, {"spark.executor.extraJavaOptions": "x" * 1025})


def test_key_longer_than_1024_chars_refused() -> None:
    with pytest.raises(SizingRefused):
        run_inject(submit(None), None, {"spark." + "k" * 1019: "v"})


# --- labels and YuniKorn --------------------------------------------------------------------------


def test_label_conf() -> None:
    assert label_conf("emr-sizing/signature", "s1-abc") == {
        "spark.kubernetes.driver.label.emr-sizing/signature": "s1-abc",
        "spark.kubernetes.executor.label.emr-sizing/signature": "s1-abc",
    }


DRIVER_GROUP = {"name": "spark-driver", "minMember": 1, "minResource": {"cpu": "1", "memory": "2Gi"}}
EXEC_GROUP = {
    "name": "spark-executor",
    "minMember": 10,
    "minResource": {"cpu": "1", "memory": "4Gi", "nvidia.com/gpu": "1"},
    "nodeSelector": {"pool": "spark"},
}


def yunikorn_conf(groups: Any, executor_group: str | None = "spark-executor", **extra: str):
    properties = {
        "spark.kubernetes.scheduler.name": "yunikorn",
        TASK_GROUPS: groups if isinstance(groups, str) else json.dumps(groups),
        **extra,
    }
    if executor_group is not None:
        properties[EXECUTOR_GROUP] = executor_group
    return read_job_conf(submit(None), defaults(properties))


@pytest.mark.parametrize(("cores", "cpu"), [(2.5, "2500m"), (2.0, "2"), (0.25, "250m")])
def test_yunikorn_rewrites_only_the_executor_group(cores: float, cpu: str) -> None:
    conf = yunikorn_conf([DRIVER_GROUP, EXEC_GROUP])
    values = yunikorn_values(conf, 5120, cores)
    assert list(values) == [TASK_GROUPS]
    groups = json.loads(values[TASK_GROUPS])
    assert groups[0] == DRIVER_GROUP
    assert groups[1] == {
        **EXEC_GROUP,
        "minResource": {"cpu": cpu, "memory": "5120Mi", "nvidia.com/gpu": "1"},
    }


def test_yunikorn_groups_in_parameters_are_rewritten_there() -> None:
    groups = json.dumps([DRIVER_GROUP, EXEC_GROUP])
    params = f"--conf {shlex.quote(TASK_GROUPS + '=' + groups)} --conf {EXECUTOR_GROUP}=spark-executor"
    job_driver = submit(params)
    conf = read_job_conf(job_driver, None)
    values = yunikorn_values(conf, 6144, 3.0)
    result = run_inject(job_driver, None, values)
    new_conf = read_job_conf(result.job_driver, result.configuration_overrides)
    written = json.loads(new_conf.get(TASK_GROUPS))
    assert written[1]["minResource"] == {"cpu": "3", "memory": "6144Mi", "nvidia.com/gpu": "1"}
    assert [c.where for c in result.changes] == ["parameters"]


@pytest.mark.parametrize("scheduler", ["scheduler.name", "driver.scheduler.name", "executor.scheduler.name"])
@pytest.mark.parametrize("template", ["driver", "executor"])
def test_yunikorn_with_a_pod_template_and_no_groups_refused(scheduler: str, template: str) -> None:
    """Task groups usually live in the driver's pod template: we cannot see them, so we cannot keep
    the executors consistent with them."""
    properties = {
        f"spark.kubernetes.{scheduler}": "YuniKorn ",
        f"spark.kubernetes.{template}.podTemplateFile": f"s3://bucket/{template}.yaml",
    }
    conf = read_job_conf(submit(None), defaults(properties))
    with pytest.raises(SizingRefused, match=f"YuniKorn with a pod template file .*{template}"):
        yunikorn_values(conf, 4096, 1.0)


def test_yunikorn_annotation_with_pod_template_and_no_groups_refused() -> None:
    properties = {
        "spark.kubernetes.executor.annotation.yunikorn.apache.org/app-id": "x",
        "spark.kubernetes.executor.podTemplateFile": "s3://bucket/executor.yaml",
    }
    conf = read_job_conf(submit(None), defaults(properties))
    with pytest.raises(SizingRefused):
        yunikorn_values(conf, 4096, 1.0)


@pytest.mark.parametrize(
    ("groups", "executor_group"),
    [([DRIVER_GROUP], "spark-executor"), ([DRIVER_GROUP, EXEC_GROUP], None), ("not json", "spark-executor")],
)
def test_yunikorn_executor_group_not_found_refused(groups: Any, executor_group: str | None) -> None:
    with pytest.raises(SizingRefused):
        yunikorn_values(yunikorn_conf(groups, executor_group), 4096, 1.0)


@pytest.mark.parametrize(
    "properties",
    [
        {},
        {"spark.executor.memory": "4g", "spark.kubernetes.executor.podTemplateFile": "s3://b/t.yaml"},
        {"spark.kubernetes.scheduler.name": "yunikorn"},  # YuniKorn, but no groups and no template
    ],
)
def test_no_yunikorn_task_groups_gives_nothing(properties: dict[str, str]) -> None:
    conf = read_job_conf(submit(None), defaults(properties))
    assert yunikorn_values(conf, 4096, 1.0) == {}


# --- property: injected values take effect, nothing else moves ------------------------------------

KEYS = [
    "spark.executor.memory",
    "spark.executor.cores",
    "spark.executor.instances",
    "spark.driver.memory",
    "spark.executor.memoryOverhead",
    "spark.kubernetes.executor.request.cores",
    "spark.executor.extraJavaOptions",
]
FLAGS = {
    "spark.executor.memory": "--executor-memory",
    "spark.executor.cores": "--executor-cores",
    "spark.executor.instances": "--num-executors",
    "spark.driver.memory": "--driver-memory",
}
VALUES = st.text(alphabet=st.sampled_from(list("a1g= -'\"\\$`é\t")), max_size=8)
UNRELATED = [
    "--class org.Main",
    "--jars s3://a/a.jar,s3://a/b.jar",
    "--name 'my job'",
    "--verbose",
    "--py-files x.zip",
]


def _word(key: str, value: str, form: str) -> str:
    pair = shlex.quote(f"{key}={value}")
    if form == "flag":
        return f"{FLAGS[key]} {shlex.quote(value)}"
    if form == "flag=":
        return f"{FLAGS[key]}={shlex.quote(value)}"
    if form == "conf=":
        return f"--conf={pair}"
    if form == "-c":
        return f"-c {pair}"
    if form == "double":
        escaped = f"{key}={value}".replace("\\", "\\\\").replace('"', '\\"')
        return f'--conf "{escaped}"'
    return f"--conf {pair}"


@st.composite
def requests(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, str]]:
    words: list[str] = []
    properties: dict[str, str] = {}
    for key in KEYS:
        forms = ["conf", "conf=", "-c", "double"] + (["flag", "flag="] if key in FLAGS else [])
        for form in draw(st.lists(st.sampled_from(forms), max_size=2)):
            words.append(_word(key, draw(VALUES), form))
        if draw(st.booleans()):
            properties[key] = draw(VALUES)
    words += draw(st.lists(st.sampled_from(UNRELATED), max_size=3))
    words = draw(st.permutations(words))
    separator = draw(st.sampled_from([" ", "  ", "\t", " \n "]))
    job_driver = submit(separator.join(words))
    overrides = defaults(properties) if properties or draw(st.booleans()) else None
    values = draw(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=len(KEYS)))
    return job_driver, overrides, values


@settings(max_examples=300)
@given(requests())
def test_injected_values_take_effect_and_nothing_else_changes(
    request: tuple[dict[str, Any], dict[str, Any] | None, dict[str, str]],
) -> None:
    job_driver, overrides, values = request
    old = read_job_conf(job_driver, overrides)
    result = run_inject(job_driver, overrides, values)
    new = read_job_conf(result.job_driver, result.configuration_overrides)
    for key, value in values.items():
        assert new.get(key) == value
    for key in set(old.effective) - set(values):
        assert new.get(key) == old.get(key)
        assert new.where(key) == old.where(key)
    assert set(new.effective) == set(old.effective) | set(values)
    assert {c.key for c in result.changes} == {k for k, v in values.items() if old.get(k) != v}
    for change in result.changes:
        assert change.before == old.get(change.key)
        assert change.after == values[change.key]
        assert change.where == ("parameters" if old.where(change.key) == "parameters" else "spark-defaults")
