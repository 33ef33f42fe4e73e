"""Properties at scale (10,000 examples each, ``slow``): the parsers round-trip, injection never
yields an invalid StartJobRun, and a signature hash is always a valid label value."""

from __future__ import annotations

import os
import re
import shlex
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_spark_conf import SHELL_STRINGS, SHELLISH_NOISE

from airflow_emr_sizing.injection import MAX_PARAMETERS_CHARS, MAX_PROPERTIES, MAX_PROPERTY_CHARS, label_conf
from airflow_emr_sizing.plan import SizingOptions, plan_sizing
from airflow_emr_sizing.quantities import parse_cores, parse_memory_mib
from airflow_emr_sizing.recommender import Bounds
from airflow_emr_sizing.signature import (
    build_signature,
    is_valid_label_key,
    is_valid_label_value,
    signature_hash,
)
from airflow_emr_sizing.spark_conf import JobConf, executor_size, read_job_conf, tokenize
from airflow_emr_sizing.store import InMemoryStore, Observation

pytestmark = pytest.mark.slow
#: 10,000 in CI and by default; EMR_SIZING_EXAMPLES lowers it for a quick local run.
EXAMPLES = int(os.environ.get("EMR_SIZING_EXAMPLES", "10000"))
BIG = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
EXAMPLES_TRIED = f"hypothesis examples tried ({EXAMPLES:,} per property)"

# Text as users write it: any unicode but NUL (no JSON/HTTP API carries it) and lone surrogates.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
HOSTILE = st.one_of(
    TEXT,
    st.sampled_from(
        ["'", '"', "\\", "\n", "$(id)", "`id`", "'; DROP TABLE x; --", '{job=~".*"} or vector(1)', " -- "]
    ),
    st.builds(lambda a, b: a + b, TEXT, st.sampled_from(["'", '"', "\\", "\n", "=", " --conf x=y"])),
)
KEY = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00="), min_size=1, max_size=30
)


@pytest.fixture(scope="module")
def tried() -> dict[str, int]:
    return {"n": 0}


@BIG
@given(st.one_of(SHELL_STRINGS, SHELLISH_NOISE, TEXT))
def test_parameters_tokenize_as_shlex_splits(text: str) -> None:
    try:
        expected = shlex.split(text)
    except ValueError:
        assume(False)
    assert [t.text for t in tokenize(text)] == expected
    _count()


@BIG
@given(
    params=st.dictionaries(KEY, HOSTILE, max_size=6),
    defaults=st.dictionaries(KEY, HOSTILE, max_size=6),
    separator=st.sampled_from([" ", "  ", "\t", "\n", " \n\t "]),
    style=st.sampled_from(["--conf {}", "--conf={}", "-c {}"]),
)
def test_submit_parameters_and_spark_defaults_round_trip(
    params: dict[str, str], defaults: dict[str, str], separator: str, style: str
) -> None:
    """Conf written as shells quote it, and as spark-defaults, reads back exactly (parameters win)."""
    text = separator.join(
        ["--class", "x.Main", *(style.format(shlex.quote(f"{k}={v}")) for k, v in params.items())]
    )
    overrides = {"applicationConfiguration": [{"classification": "spark-defaults", "properties": defaults}]}

    conf = read_job_conf(
        {"sparkSubmitJobDriver": {"entryPoint": "s3://a/x.jar", "sparkSubmitParameters": text}}, overrides
    )

    assert conf.effective == {**defaults, **params}
    assert conf.spark_defaults == defaults
    for key in conf.effective:
        assert conf.where(key) == ("parameters" if key in params else "spark-defaults")
    _count()


MEMORY = st.builds(
    lambda n, unit: f"{n}{unit}", st.integers(1, 64), st.sampled_from(["g", "G", "gb"])
) | st.builds(lambda n: f"{n}m", st.integers(512, 65536))


@st.composite
def sizing_cases(
    draw: st.DrawFn,
) -> tuple[dict[str, Any], dict[str, Any] | None, list[Observation], SizingOptions]:
    words = ["--class", "x.Main"]
    placed: dict[str, str] = {}
    for key, value in (
        ("spark.executor.memory", draw(MEMORY)),
        ("spark.executor.cores", str(draw(st.integers(1, 16)))),
        ("spark.executor.instances", str(draw(st.integers(1, 200)))),
        ("spark.executor.memoryOverhead", draw(MEMORY)),
        ("spark.kubernetes.executor.request.cores", draw(st.sampled_from(["500m", "1", "1.5", "3"]))),
    ):
        where = draw(st.sampled_from(["params", "flag", "defaults", "absent"]))
        if where == "params":
            words.append(f"--conf {shlex.quote(f'{key}={value}')}")
        elif where == "flag" and key == "spark.executor.memory":
            words.append(f"--executor-memory {value}")
        elif where != "absent":
            placed[key] = value
    for _ in range(draw(st.integers(0, 3))):
        words.append(f"--conf {shlex.quote(f'spark.app.note{draw(st.integers(0, 9))}={draw(HOSTILE)}')}")
    near_limits = draw(st.integers(0, 49)) == 0  # 1 in 50: a request at StartJobRun's limits
    if near_limits:  # parameters within 300 chars of the limit: injection must refuse, not truncate
        room = MAX_PARAMETERS_CHARS - len(" ".join(words)) - len(" --conf spark.app.padding=")
        words.append(f"--conf spark.app.padding={'p' * (room - draw(st.integers(0, 300)))}")
    filler = draw(st.integers(MAX_PROPERTIES - 6, MAX_PROPERTIES) if near_limits else st.integers(0, 4))
    value = "y" * (MAX_PROPERTY_CHARS if near_limits else 8)
    properties = {**placed, **{f"spark.filler.{i}": value for i in range(filler)}}
    properties = dict(list(properties.items())[:MAX_PROPERTIES])
    driver = {"sparkSubmitJobDriver": {"entryPoint": draw(st.sampled_from(["s3://a/x.jar", "s3://a/x.py"])),
                                       "sparkSubmitParameters": " ".join(words)}}  # fmt: skip
    overrides = {"applicationConfiguration": [{"classification": "spark-defaults", "properties": properties}]}
    history = [
        Observation(
            f"jr-{i}",
            "placeholder",
            "app",
            datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=i),
            oom=draw(st.booleans()) and draw(st.booleans()),
            pod_memory_mib=draw(st.integers(500, 300_000)),
            peak_pod_memory_mib=draw(st.integers(1, 300_000)),
            cpu_used_cores_p90=draw(st.none() | st.floats(0.01, 64)),
        )
        for i in range(draw(st.integers(0, 8)))
    ]
    low = draw(st.none() | st.integers(450, 8192))
    bounds = Bounds(
        min_heap_mib=low,
        max_heap_mib=draw(st.none() | st.integers(low or 450, 200_000)),
        min_cores=draw(st.none() | st.sampled_from([0.25, 0.5, 1.0])),
        max_cores=draw(st.none() | st.sampled_from([1.0, 2.0, 8.0])),
    )
    options = SizingOptions(
        app_name=draw(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s)),
        dry_run=False,
        label_key=draw(st.sampled_from(["emr-sizing-signature", "example.com/sig", "a"])),
        bounds=bounds,
    )
    return driver, overrides, history, options


def _valid_start_job_run(driver: dict[str, Any], overrides: dict[str, Any] | None) -> JobConf:
    """Check a request against StartJobRun's limits and Spark's syntax; return its conf."""
    params = driver["sparkSubmitJobDriver"]["sparkSubmitParameters"]
    assert len(params) <= MAX_PARAMETERS_CHARS
    classifications = (overrides or {}).get("applicationConfiguration") or []
    assert len(classifications) <= MAX_PROPERTIES
    for classification in classifications:
        properties = classification.get("properties") or {}
        assert len(properties) <= MAX_PROPERTIES
        assert all(
            len(k) <= MAX_PROPERTY_CHARS and len(v) <= MAX_PROPERTY_CHARS for k, v in properties.items()
        )
    conf = read_job_conf(driver, overrides)
    size = executor_size(conf)  # Spark's own syntax, or this raises
    assert size.pod_memory_mib > 0 and size.request_cores > 0
    return conf


@BIG
@given(sizing_cases())
def test_injection_never_yields_an_invalid_start_job_run(
    case: tuple[dict[str, Any], dict[str, Any] | None, list[Observation], SizingOptions],
) -> None:
    driver, overrides, history, options = case
    run_time = datetime(2026, 3, 6, 5, tzinfo=timezone.utc)
    signature = build_signature(options.app_name, run_time, "UTC", read_job_conf(driver, overrides).effective)
    store = InMemoryStore(
        [  # the signature's own weekly runs, within the recommender's lookback
            Observation.of(
                signature,
                o.job_id,
                run_time - timedelta(weeks=i + 1),
                state=o.state,
                oom=o.oom,
                pod_memory_mib=o.pod_memory_mib,
                peak_pod_memory_mib=o.peak_pod_memory_mib,
                cpu_used_cores_p90=o.cpu_used_cores_p90,
            )
            for i, o in enumerate(history)
        ]
    )

    plan = plan_sizing(driver, overrides, run_time, options, open_store=lambda: store, now=run_time)
    sent_driver, sent_overrides = plan.apply(driver, overrides)

    conf = _valid_start_job_run(sent_driver, sent_overrides)
    if plan.degraded:  # refused (e.g. limits): exactly as written
        assert (sent_driver, sent_overrides) == (driver, overrides)
        assert plan.audit.reason
    else:
        for key, value in label_conf(options.label_key, signature.hash).items():
            assert conf.get(key) == value
            assert is_valid_label_key(key.rsplit(".label.", 1)[1]) and is_valid_label_value(value)
        for key in ("spark.executor.memory", "spark.executor.memoryOverhead"):
            if key in plan.values:
                assert re.fullmatch(r"[0-9]+m", plan.values[key])
                assert parse_memory_mib(key, plan.values[key]) > 0
        if "spark.kubernetes.executor.request.cores" in plan.values:
            assert parse_cores("cores", plan.values["spark.kubernetes.executor.request.cores"]) > 0
    _count()


ZONES = st.sampled_from(
    ["UTC", "Asia/Seoul", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu"]
)


@BIG
@given(
    app=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300),
    moment=st.datetimes(datetime(1970, 1, 2), datetime(2200, 1, 1), timezones=st.just(timezone.utc)),
    zone=ZONES,
    conf=st.dictionaries(
        st.sampled_from(
            [
                "spark.executor.instances",
                "spark.dynamicAllocation.enabled",
                "spark.dynamicAllocation.minExecutors",
                "spark.dynamicAllocation.maxExecutors",
            ]
        ),
        st.one_of(HOSTILE, st.sampled_from(["true", "false", "10"])),
    ),
)
def test_signature_hash_is_always_a_valid_label_value(
    app: str, moment: datetime, zone: str, conf: dict[str, str]
) -> None:
    signature = build_signature(app, moment, zone, conf)

    assert is_valid_label_value(signature.hash)
    assert signature.hash == signature_hash(signature.key)
    assert signature.key.startswith(f"{app}-day-{signature.day_of_week}-hour-{signature.hour}-")
    _count()


_COUNT = {"n": 0}


def _count() -> None:
    _COUNT["n"] += 1


@pytest.fixture(autouse=True)
def _report(proved: Any) -> Any:
    before = _COUNT["n"]
    yield
    proved(EXAMPLES_TRIED, _COUNT["n"] - before)
