"""Reading a StartJobRun request's Spark conf, and the executor pod size Spark on Kubernetes requests."""

from __future__ import annotations

import itertools
import shlex
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from airflow_emr_sizing.exceptions import SparkConfError
from airflow_emr_sizing.spark_conf import (
    JobConf,
    Token,
    executor_size,
    loose_settings,
    read_job_conf,
    tokenize,
)

JAR = "s3://bucket/jobs/app.jar"
PY = "s3://bucket/jobs/app.py"


def submit_driver(params: str | None, entry_point: str = JAR) -> dict[str, Any]:
    spec: dict[str, Any] = {"entryPoint": entry_point}
    if params is not None:
        spec["sparkSubmitParameters"] = params
    return {"sparkSubmitJobDriver": spec}


def overrides(properties: dict[str, str], *others: dict[str, Any]) -> dict[str, Any]:
    return {
        "applicationConfiguration": [
            *others,
            {"classification": "spark-defaults", "properties": properties},
        ]
    }


def conf_of(
    params: str | None = None, defaults: dict[str, str] | None = None, entry_point: str = JAR
) -> JobConf:
    return read_job_conf(submit_driver(params, entry_point), overrides(defaults) if defaults else None)


# --- tokenize -------------------------------------------------------------------------------------

_plain = st.text(alphabet=st.sampled_from(list("abcXYZ019=-_.,:/@%é한$`")), min_size=1, max_size=6)
_single = st.text(alphabet=st.characters(blacklist_characters="'"), max_size=6).map(lambda s: f"'{s}'")
_double = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(blacklist_characters='"\\'), min_size=1, max_size=4),
        st.sampled_from(['\\"', "\\\\", "\\$", "\\`", "\\\n", "\\a", "\\ "]),
    ),
    max_size=4,
).map(lambda parts: '"' + "".join(parts) + '"')
_escaped = st.characters(codec="utf-8").map(lambda c: "\\" + c)
_word = st.lists(st.one_of(_plain, _single, _double, _escaped), min_size=1, max_size=4).map("".join)
_space = st.text(
    alphabet=st.sampled_from([" ", "\t", "\n", "\r", "\x0b", "\x0c", "\xa0", "\u2003", "\x1f"]),
    min_size=1,
    max_size=3,
)
SHELL_STRINGS = st.builds(
    lambda lead, pairs: lead + "".join(w + s for w, s in pairs),
    st.sampled_from(["", " ", "\t"]),
    st.lists(st.tuples(_word, _space), max_size=6),
)
SHELLISH_NOISE = st.text(alphabet=st.sampled_from(list("ab= '\"\\$`\t\n\r\x0b\x0c\xa0\u2003-")), max_size=24)


def _shlex_or_reject(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        assume(False)
        raise


@settings(max_examples=300)
@given(st.one_of(SHELL_STRINGS, SHELLISH_NOISE, st.text(max_size=40)))
def test_tokenize_equals_shlex_split(text: str) -> None:
    expected = _shlex_or_reject(text)
    assert [token.text for token in tokenize(text)] == expected


@settings(max_examples=300)
@given(st.one_of(SHELL_STRINGS, SHELLISH_NOISE))
def test_token_spans_retokenize_to_the_same_word(text: str) -> None:
    _shlex_or_reject(text)
    tokens = tokenize(text)
    for token in tokens:
        piece = text[token.start : token.end]
        assert tokenize(piece) == [Token(token.text, 0, len(piece))]
    # Spans are ordered and disjoint.
    for left, right in itertools.pairwise(tokens):
        assert left.end < right.start


def test_tokenize_examples() -> None:
    text = """--conf 'a=b c' --conf "d=e\\"f" g\\ h"""
    assert [t.text for t in tokenize(text)] == ["--conf", "a=b c", "--conf", 'd=e"f', "g h"]
    assert [(t.start, t.end) for t in tokenize(text)] == [(0, 6), (7, 14), (15, 21), (22, 30), (31, 35)]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a\xa0b", ["a\xa0b"]),  # only space, tab, CR and LF separate words in shlex
        ("a\x0bb\x0cc", ["a\x0bb\x0cc"]),
        ("a\u2003b", ["a\u2003b"]),
        ('"a\\$b"', ["a\\$b"]),  # inside double quotes shlex escapes only " and backslash
        ('"a\\`b"', ["a\\`b"]),
        ('"a\\\nb"', ["a\\\nb"]),
        ('"a\\"b\\\\c"', ['a"b\\c']),
        ("a\\\nb", ["a\nb"]),
        ("'a\\b'", ["a\\b"]),
        ("x '' y", ["x", "", "y"]),
    ],
)
def test_tokenize_shlex_corner_cases(text: str, words: list[str]) -> None:
    assert shlex.split(text) == words  # the reference itself
    assert [t.text for t in tokenize(text)] == words


@pytest.mark.parametrize("text", ["--conf 'a=b", '--conf "a=b', "x 'y"])
def test_tokenize_unclosed_quote_is_an_error(text: str) -> None:
    with pytest.raises(SparkConfError, match="sparkSubmitParameters"):
        tokenize(text)


# --- read_job_conf: where values come from -------------------------------------------------------


def test_conf_space_separated() -> None:
    conf = conf_of("--conf spark.executor.memory=4g")
    assert conf.get("spark.executor.memory") == "4g"
    assert conf.where("spark.executor.memory") == "parameters"


def test_conf_quoted_value_with_space() -> None:
    conf = conf_of('--conf "spark.executor.extraJavaOptions=-Dx=1 -Dy=2" --conf spark.executor.cores=2')
    assert conf.get("spark.executor.extraJavaOptions") == "-Dx=1 -Dy=2"
    assert conf.get("spark.executor.cores") == "2"


def test_conf_equals_form_and_short_form() -> None:
    conf = conf_of("--conf=spark.executor.cores=3 -c spark.executor.instances=5 --conf=spark.x=a=b")
    assert conf.get("spark.executor.cores") == "3"
    assert conf.get("spark.executor.instances") == "5"
    assert conf.get("spark.x") == "a=b"  # split on the first '=' only


@pytest.mark.parametrize(
    ("params", "key", "value"),
    [
        ("--executor-memory 4g", "spark.executor.memory", "4g"),
        ("--executor-memory=6g", "spark.executor.memory", "6g"),
        ("--executor-cores 2", "spark.executor.cores", "2"),
        ("--num-executors 10", "spark.executor.instances", "10"),
        ("--driver-memory 2g", "spark.driver.memory", "2g"),
        ("--driver-cores 3", "spark.driver.cores", "3"),
    ],
)
def test_flags_map_to_spark_keys(params: str, key: str, value: str) -> None:
    conf = conf_of(params)
    assert conf.get(key) == value
    assert conf.where(key) == "parameters"
    assert conf.effective == {key: value}


@pytest.mark.parametrize(
    "params",
    [
        "--executor-memory 3g --conf spark.executor.memory=8g",
        "--conf spark.executor.memory=8g --executor-memory 3g",
        "--conf spark.executor.memory=8g --executor-memory=3g --conf spark.executor.memory=9g",
    ],
)
def test_flag_beats_conf_regardless_of_order(params: str) -> None:
    conf = conf_of(params, {"spark.executor.memory": "1g"})
    assert conf.get("spark.executor.memory") == "3g"
    # Both places are known, so injection can rewrite all of them.
    assert len(conf.settings["spark.executor.memory"].slots) == params.count("spark.executor.memory") + 1


def test_later_conf_beats_earlier() -> None:
    conf = conf_of(
        "--conf spark.executor.memory=2g --conf spark.executor.cores=1 -c spark.executor.memory=5g"
    )
    assert conf.get("spark.executor.memory") == "5g"
    assert conf.get("spark.executor.cores") == "1"


def test_parameters_beat_spark_defaults() -> None:
    conf = conf_of(
        "--conf spark.executor.memory=4g",
        {"spark.executor.memory": "16g", "spark.executor.cores": "4"},
    )
    assert conf.get("spark.executor.memory") == "4g"
    assert conf.where("spark.executor.memory") == "parameters"
    assert conf.get("spark.executor.cores") == "4"
    assert conf.where("spark.executor.cores") == "spark-defaults"
    assert conf.get("spark.executor.instances") is None
    assert conf.get("spark.executor.instances", "d") == "d"
    assert conf.where("spark.executor.instances") == "unset"
    assert conf.spark_defaults == {"spark.executor.memory": "16g", "spark.executor.cores": "4"}


def test_other_classifications_are_not_spark_defaults() -> None:
    other = {"classification": "spark-log4j", "properties": {"spark.executor.memory": "99g"}}
    conf = read_job_conf(submit_driver(None), overrides({"spark.executor.cores": "2"}, other))
    assert conf.effective == {"spark.executor.cores": "2"}


def test_unrelated_options_are_skipped_with_their_values() -> None:
    params = (
        "--class org.example.Main --jars s3://a/a.jar,s3://a/b.jar --py-files s3://a/deps.zip "
        "--verbose --conf spark.executor.memory=2g "
        "--driver-java-options '-Dspark.executor.memory=7g -Dx=y' --name --executor-memory 9g"
    )
    conf = conf_of(params)
    # --name takes "--executor-memory" as its value (as spark-submit does); "9g" is not an option.
    assert conf.effective == {"spark.executor.memory": "2g"}


def test_switch_does_not_swallow_the_next_option() -> None:
    conf = conf_of("--verbose --executor-cores 3 -v --num-executors 4 --supervise --conf a.b=c")
    assert conf.effective == {"spark.executor.cores": "3", "spark.executor.instances": "4", "a.b": "c"}


def test_spark_sql_job_driver() -> None:
    job_driver = {
        "sparkSqlJobDriver": {
            "entryPoint": "s3://bucket/q.sql",
            "sparkSqlParameters": "--conf spark.executor.memory=3g --executor-cores 2",
        }
    }
    conf = read_job_conf(job_driver, overrides({"spark.executor.instances": "4"}))
    assert conf.driver == "sparkSqlJobDriver"
    assert conf.params_field == "sparkSqlParameters"
    assert conf.entry_point == "s3://bucket/q.sql"
    assert conf.effective == {
        "spark.executor.memory": "3g",
        "spark.executor.cores": "2",
        "spark.executor.instances": "4",
    }


def test_no_parameters_and_no_overrides() -> None:
    conf = read_job_conf({"sparkSubmitJobDriver": {"entryPoint": JAR}}, None)
    assert conf.effective == {}
    assert conf.params == ""


def test_missing_driver_is_a_clear_error() -> None:
    with pytest.raises(SparkConfError) as info:
        read_job_conf({"somethingElse": {}}, None)
    message = str(info.value)
    assert info.value.field == "job_driver"
    assert "sparkSubmitJobDriver" in message
    assert "sparkSqlJobDriver" in message


@pytest.mark.parametrize(
    ("driver", "field"),
    [("sparkSubmitJobDriver", "sparkSubmitParameters"), ("sparkSqlJobDriver", "sparkSqlParameters")],
)
@pytest.mark.parametrize("params", ["--conf spark.executor.memory", "--conf=novalue"])
def test_conf_without_key_value_names_the_field(driver: str, field: str, params: str) -> None:
    with pytest.raises(SparkConfError) as info:
        read_job_conf({driver: {"entryPoint": "x", field: params}}, None)
    assert info.value.field == field
    assert field in str(info.value)


def test_option_without_value_is_an_error() -> None:
    with pytest.raises(SparkConfError, match="sparkSubmitParameters"):
        conf_of("--conf a=b --executor-memory")


def test_non_string_parameters_rejected() -> None:
    with pytest.raises(SparkConfError, match=r"sparkSubmitJobDriver\.sparkSubmitParameters"):
        read_job_conf(
            {"sparkSubmitJobDriver": {"entryPoint": JAR, "sparkSubmitParameters": ["--conf"]}}, None
        )


# --- executor_size ---------------------------------------------------------------------------------


def size_of(defaults: dict[str, str] | None = None, params: str | None = None, entry_point: str = JAR):
    return executor_size(conf_of(params, defaults, entry_point))


def test_defaults_only() -> None:
    size = size_of()
    # heap 1g; overhead max(int(0.1 * 1024) = 102, 384) = 384
    assert (size.heap_mib, size.overhead_mib, size.off_heap_mib, size.pyspark_mib) == (1024, 384, 0, 0)
    assert size.pod_memory_mib == 1024 + 384
    assert size.cores == 1
    assert size.request_cores == 1.0
    assert size.instances is None


@pytest.mark.parametrize(
    ("memory", "heap", "overhead"),
    [
        ("4g", 4096, 409),  # int(0.1 * 4096) = int(409.6) = 409 > 384
        ("2g", 2048, 384),  # int(204.8) = 204 -> floor 384
        ("3840m", 3840, 384),  # int(384.0) = 384
        ("3850m", 3850, 385),  # int(385.0) = 385
        ("10g", 10240, 1024),
    ],
)
def test_jvm_overhead_factor(memory: str, heap: int, overhead: int) -> None:
    size = size_of({"spark.executor.memory": memory})
    assert (size.heap_mib, size.overhead_mib) == (heap, overhead)
    assert size.pod_memory_mib == heap + overhead


@pytest.mark.parametrize(
    ("memory", "overhead"),
    [
        ("4g", 1638),  # int(0.4 * 4096) = int(1638.4)
        ("512m", 384),  # int(204.8) -> floor 384
        ("1000m", 400),  # int(0.4 * 1000)
    ],
)
def test_python_overhead_factor(memory: str, overhead: int) -> None:
    size = size_of({"spark.executor.memory": memory}, entry_point=PY)
    assert size.overhead_mib == overhead


def test_sql_and_jar_entry_points_use_jvm_factor() -> None:
    size = size_of({"spark.executor.memory": "4g"}, entry_point="s3://b/q.sql")
    assert size.overhead_mib == 409


@pytest.mark.parametrize("entry_point", [JAR, PY])
@pytest.mark.parametrize(
    ("overhead_conf", "overhead"), [("1g", 1024), ("100m", 100), ("512", 512), ("2048mb", 2048)]
)
def test_explicit_overhead_replaces_factor_rule(entry_point: str, overhead_conf: str, overhead: int) -> None:
    size = size_of(
        {
            "spark.executor.memory": "4g",
            "spark.executor.memoryOverhead": overhead_conf,
            "spark.executor.memoryOverheadFactor": "0.5",
            "spark.executor.minMemoryOverhead": "2g",
        },
        entry_point=entry_point,
    )
    assert size.overhead_mib == overhead
    assert size.pod_memory_mib == 4096 + overhead


@pytest.mark.parametrize(
    ("factors", "entry_point", "overhead"),
    [
        ({"spark.executor.memoryOverheadFactor": "0.2"}, JAR, 2048),  # 0.2 * 10240
        ({"spark.kubernetes.memoryOverheadFactor": "0.3"}, JAR, 3072),  # 0.3 * 10240
        (
            {"spark.executor.memoryOverheadFactor": "0.2", "spark.kubernetes.memoryOverheadFactor": "0.3"},
            JAR,
            2048,
        ),
        ({"spark.executor.memoryOverheadFactor": "0.1"}, PY, 1024),  # a set factor beats the 0.4 default
        ({"spark.kubernetes.memoryOverheadFactor": "0.15"}, PY, 1536),
        ({"spark.executor.memoryOverheadFactor": "0.01"}, JAR, 384),  # int(102.4) -> floor
    ],
)
def test_overhead_factor_keys(factors: dict[str, str], entry_point: str, overhead: int) -> None:
    size = size_of({"spark.executor.memory": "10g", **factors}, entry_point=entry_point)
    assert size.overhead_mib == overhead


@pytest.mark.parametrize("bad", ["abc", "-0.1"])
def test_bad_overhead_factor_names_key(bad: str) -> None:
    with pytest.raises(SparkConfError, match=r"spark\.executor\.memoryOverheadFactor"):
        size_of({"spark.executor.memoryOverheadFactor": bad})


@pytest.mark.parametrize(
    ("memory", "minimum", "overhead"),
    [
        ("4g", "1g", 1024),  # max(409, 1024)
        ("1g", "500", 500),  # bare number is MiB: max(102, 500)
        ("20g", "1g", 2048),  # max(2048, 1024)
        ("1g", "100m", 102),  # a lower floor (Spark 4): max(int(102.4), 100)
    ],
)
def test_min_memory_overhead(memory: str, minimum: str, overhead: int) -> None:
    size = size_of({"spark.executor.memory": memory, "spark.executor.minMemoryOverhead": minimum})
    assert size.overhead_mib == overhead


@pytest.mark.parametrize(
    ("enabled", "off_heap_size", "off_heap"),
    [
        ("true", "1073741824", 1024),  # bare number is bytes
        ("True", "2g", 2048),
        ("true", "1048575", 0),  # under one MiB truncates to 0
        ("false", "2g", 0),
        (None, "2g", 0),
    ],
)
def test_off_heap(enabled: str | None, off_heap_size: str, off_heap: int) -> None:
    defaults = {"spark.executor.memory": "4g", "spark.memory.offHeap.size": off_heap_size}
    if enabled is not None:
        defaults["spark.memory.offHeap.enabled"] = enabled
    size = size_of(defaults)
    assert size.off_heap_mib == off_heap
    assert size.pod_memory_mib == 4096 + 409 + off_heap


def test_pyspark_memory_only_for_python_apps() -> None:
    defaults = {"spark.executor.memory": "4g", "spark.executor.pyspark.memory": "512m"}
    python = size_of(defaults, entry_point=PY)
    jvm = size_of(defaults, entry_point=JAR)
    assert python.pyspark_mib == 512
    assert python.pod_memory_mib == 4096 + 1638 + 512
    assert jvm.pyspark_mib == 0
    assert jvm.pod_memory_mib == 4096 + 409


def test_full_python_pod() -> None:
    size = size_of(
        {
            "spark.executor.memory": "6g",
            "spark.memory.offHeap.enabled": "true",
            "spark.memory.offHeap.size": str(512 * 1024 * 1024),
            "spark.executor.pyspark.memory": "1g",
        },
        entry_point=PY,
    )
    # heap 6144 + overhead int(0.4 * 6144) = 2457 + off-heap 512 + pyspark 1024
    assert size.pod_memory_mib == 6144 + 2457 + 512 + 1024


def test_flags_feed_executor_size() -> None:
    size = size_of(
        {"spark.executor.memory": "16g", "spark.executor.cores": "8"},
        params="--executor-memory 3g --conf spark.executor.memory=8g --executor-cores 2 --num-executors 7",
    )
    assert size.heap_mib == 3072
    assert size.overhead_mib == 384  # int(307.2) -> floor
    assert size.cores == 2
    assert size.request_cores == 2.0
    assert size.instances == 7


@pytest.mark.parametrize(
    ("request_cores", "expected"), [(None, 4.0), ("3500m", 3.5), ("2.5", 2.5), ("1", 1.0), (".5", 0.5)]
)
def test_request_cores(request_cores: str | None, expected: float) -> None:
    defaults = {"spark.executor.cores": "4"}
    if request_cores is not None:
        defaults["spark.kubernetes.executor.request.cores"] = request_cores
    size = size_of(defaults)
    assert size.cores == 4
    assert size.request_cores == pytest.approx(expected)


def test_assumed_defaults_lose_to_the_job_conf() -> None:
    conf = conf_of("--executor-memory 2g")
    size = executor_size(conf, {"spark.executor.memory": "8g", "spark.executor.cores": "4"})
    assert size.heap_mib == 2048
    assert size.cores == 4


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("spark.executor.memory", "4.5g"),
        ("spark.executor.memoryOverhead", "1.5g"),
        ("spark.executor.cores", "two"),
        ("spark.kubernetes.executor.request.cores", "lots"),
    ],
)
def test_malformed_values_name_the_key(key: str, value: str) -> None:
    with pytest.raises(SparkConfError) as info:
        size_of({key: value})
    assert info.value.field == key
    assert value in str(info.value)


@given(
    heap=st.integers(min_value=1, max_value=256 * 1024),
    factor=st.sampled_from([None, "0.1", "0.25", "0.4", "1.0"]),
    python=st.booleans(),
)
def test_overhead_rule_property(heap: int, factor: str | None, python: bool) -> None:
    defaults = {"spark.executor.memory": f"{heap}m"}
    if factor is not None:
        defaults["spark.executor.memoryOverheadFactor"] = factor
    size = size_of(defaults, entry_point=PY if python else JAR)
    used = float(factor) if factor is not None else (0.4 if python else 0.1)
    assert size.overhead_mib == max(int(used * heap), 384)
    assert size.pod_memory_mib == heap + size.overhead_mib


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("--conf a='b --conf x.password=hunter2", "a='"),
        ('--conf "a=b --conf x.token=hunter2', '"'),
        ("--conf x.secret.key=hun'ter2 --conf a=b", "***"),  # the stray quote sits in a secret
    ],
)
def test_an_unsplittable_word_is_shown_only_up_to_the_trouble(text: str, shown: str) -> None:
    with pytest.raises(SparkConfError) as raised:
        tokenize(text, "sparkSqlParameters")
    assert raised.value.field == "sparkSqlParameters" and raised.value.value == shown
    assert "hunter2" not in str(raised.value) and "hun" not in str(raised.value.value)


@pytest.mark.parametrize(
    ("params", "secret"),
    [
        ("--conf x.secret.key=wJalrXUt'nFEMI-K7MDENG --conf a=b", "wJalrXUt'nFEMI-K7MDENG"),
        ('--conf "x.password=correct horse battery staple" --conf a=\'b', "correct horse battery staple"),
        ("--conf x.password='correct horse battery staple", "correct horse battery staple"),
    ],
)
def test_an_unreadable_conf_still_yields_its_secrets_whole_for_masking(params: str, secret: str) -> None:
    driver = {"sparkSubmitJobDriver": {"entryPoint": "x.py", "sparkSubmitParameters": params}}
    with pytest.raises(SparkConfError):
        read_job_conf(driver, None)

    assert secret in {
        value for key, value in loose_settings(driver, None) if "secret" in key or "password" in key
    }


def test_a_trailing_backslash_is_an_error_as_in_shlex() -> None:
    with pytest.raises(ValueError):
        shlex.split("--conf a=b \\")
    with pytest.raises(SparkConfError, match="lone backslash"):
        tokenize("--conf a=b \\")


@pytest.mark.parametrize(
    "switch", ["-S", "--silent", "--verbose", "-v", "--load-spark-defaults", "--usage-error"]
)
def test_a_switch_takes_no_value(switch: str) -> None:
    """spark-sql's CLI takes ``-S``/``--silent`` alone: the ``--conf`` after it is Spark's."""
    driver = {"sparkSqlJobDriver": {"sparkSqlParameters": f"{switch} --conf spark.executor.memory=8g"}}

    assert read_job_conf(driver, None).get("spark.executor.memory") == "8g"


def test_options_that_take_a_value_do_not_swallow_the_next_conf() -> None:
    conf = read_job_conf(
        {"sparkSubmitJobDriver": {"entryPoint": "x.jar", "sparkSubmitParameters": "--status x --conf a=b"}},
        None,
    )

    assert conf.get("a") == "b"


@pytest.mark.parametrize(("entry_point", "python"), [("s3://a/job.py", True), ("s3://a/deps.zip", False)])
def test_python_apps_are_recognised_as_spark_does(entry_point: str, python: bool) -> None:
    conf = read_job_conf({"sparkSubmitJobDriver": {"entryPoint": entry_point}}, None)

    assert conf.is_python is python


def test_a_conf_with_an_empty_key_is_ignored_as_spark_does() -> None:
    conf = conf_of("--conf =4g --conf spark.executor.memory=8g")

    assert conf.effective == {"spark.executor.memory": "8g"}


@pytest.mark.parametrize("params", ["--properties-file s3://a/b.conf", "--properties-file=s3://a/b.conf"])
def test_a_properties_file_is_read(params: str) -> None:
    conf = conf_of(f"{params} --conf spark.executor.memory=8g")

    assert conf.properties_file == "s3://a/b.conf"
    assert conf.get("spark.executor.memory") == "8g"
    assert conf_of("--conf spark.executor.memory=8g").properties_file is None


@pytest.mark.parametrize(
    ("settings", "overhead", "off_heap"),
    [
        ({"spark.yarn.executor.memoryOverhead": "2g"}, 2048, 0),  # YARN's name, still read by Spark
        ({"spark.yarn.executor.memoryOverhead": "2g", "spark.executor.memoryOverhead": "1g"}, 1024, 0),
        ({"spark.unsafe.offHeap": "true", "spark.memory.offHeap.size": "1g"}, 409, 1024),
        (
            {"spark.unsafe.offHeap": "true", "spark.memory.offHeap.enabled": "false"},
            409,
            0,
        ),  # the key itself wins over its older name
    ],
)
def test_older_key_names_count_when_the_key_is_unset(
    settings: dict[str, str], overhead: int, off_heap: int
) -> None:
    size = size_of({"spark.executor.memory": "4g", "spark.memory.offHeap.size": "1g", **settings})

    assert (size.overhead_mib, size.off_heap_mib) == (overhead, off_heap)


def test_a_leading_plus_is_a_whole_number_as_in_java() -> None:
    size = size_of({"spark.executor.instances": "+4", "spark.executor.cores": "+2"})

    assert (size.instances, size.cores) == (4, 2)


@pytest.mark.parametrize("value", ["4.0", "-4", "٤", "++4"])
def test_other_whole_numbers_are_refused(value: str) -> None:
    with pytest.raises(SparkConfError, match="not a whole number"):
        size_of({"spark.executor.instances": value})
