"""Signature keys (the original team's format), their label-safe hash, and label-key validation."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_emr_sizing.exceptions import SizingConfigError
from airflow_emr_sizing.signature import (
    KEY_FORMAT_VERSION,
    build_signature,
    is_valid_label_key,
    is_valid_label_value,
    resource_spec,
    signature_hash,
)

KST = timezone(timedelta(hours=9))
SEOUL = "Asia/Seoul"
APP = "dw-blog-load"
TEN = {"spark.executor.instances": "10"}
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def expected_hash(key: str, version: int = 1) -> str:
    """The documented construction, written out independently of the package."""
    digest = hashlib.sha256(f"emr-sizing/v{version}\n{key}".encode()).digest()[:20]
    return "s" + str(version) + "-" + base64.b32encode(digest).decode("ascii").lower()


# --- key format ---------------------------------------------------------------------------------


def test_reference_key() -> None:
    sig = build_signature(APP, datetime(2026, 3, 6, 14, 0, tzinfo=KST), SEOUL, TEN)
    assert sig.key == "dw-blog-load-day-5-hour-14-dra-off-exec-10"
    assert (sig.app_name, sig.day_of_week, sig.hour, sig.holiday) == (APP, 5, 14, False)
    assert sig.resource_spec == "dra-off-exec-10"
    assert sig.hash == expected_hash(sig.key)
    assert sig.format_version == KEY_FORMAT_VERSION == 1


@pytest.mark.parametrize(
    ("day", "day_of_week"),
    [(8, 0), (9, 1), (10, 2), (11, 3), (12, 4), (13, 5), (14, 6)],  # 2026-03-08 is a Sunday
)
def test_day_numbering_sunday_is_zero(day: int, day_of_week: int) -> None:
    sig = build_signature(APP, datetime(2026, 3, day, 9, 0, tzinfo=KST), SEOUL, TEN)
    assert sig.day_of_week == day_of_week
    assert sig.key == f"dw-blog-load-day-{day_of_week}-hour-9-dra-off-exec-10"


@pytest.mark.parametrize(
    ("when", "key"),
    [
        (datetime(2026, 9, 25, 10, 0, tzinfo=KST), "dw-blog-load-day-5-hour-10-holiday-dra-off-exec-10"),
        (datetime(2026, 5, 5, 23, 0, tzinfo=KST), "dw-blog-load-day-2-hour-23-holiday-dra-off-exec-10"),
        (datetime(2026, 5, 4, 23, 0, tzinfo=KST), "dw-blog-load-day-1-hour-23-dra-off-exec-10"),
    ],
)
def test_korean_public_holidays(when: datetime, key: str) -> None:
    sig = build_signature(APP, when, SEOUL, TEN, holiday_country="KR")
    assert sig.key == key
    assert sig.holiday == ("holiday-" in key)


def test_no_holiday_country_means_no_holiday() -> None:
    sig = build_signature(APP, datetime(2026, 9, 25, 10, 0, tzinfo=KST), SEOUL, TEN)
    assert sig.key == "dw-blog-load-day-5-hour-10-dra-off-exec-10"
    assert sig.holiday is False


def test_holiday_is_read_on_the_local_date() -> None:
    # 2026-05-04T20:00Z is already Children's Day (05-05 05:00) in Seoul, but not in UTC.
    instant = datetime(2026, 5, 4, 20, 0, tzinfo=timezone.utc)
    seoul = build_signature(APP, instant, SEOUL, TEN, holiday_country="KR")
    utc = build_signature(APP, instant, "UTC", TEN, holiday_country="KR")
    assert seoul.key == "dw-blog-load-day-2-hour-5-holiday-dra-off-exec-10"
    assert utc.key == "dw-blog-load-day-1-hour-20-dra-off-exec-10"


def test_same_instant_in_utc_and_seoul() -> None:
    instant = datetime(2026, 3, 6, 2, 0, tzinfo=KST)  # 2026-03-05T17:00Z, a Thursday in UTC
    seoul = build_signature(APP, instant, SEOUL, TEN)
    utc = build_signature(APP, instant, "UTC", TEN)
    assert (seoul.day_of_week, seoul.hour) == (5, 2)
    assert (utc.day_of_week, utc.hour) == (4, 17)
    assert seoul.key != utc.key
    assert seoul.hash != utc.hash


def test_naive_run_time_means_utc() -> None:
    sig = build_signature(APP, datetime(2026, 3, 6, 5, 0), SEOUL, TEN)
    assert sig.key == "dw-blog-load-day-5-hour-14-dra-off-exec-10"


def test_same_utc_time_across_new_york_dst_change_moves_the_local_hour() -> None:
    # DST starts in New York on 2026-03-08: 19:00Z is 14:00 EST before, 15:00 EDT after.
    before = build_signature(APP, datetime(2026, 3, 6, 19, 0, tzinfo=timezone.utc), "America/New_York", TEN)
    after = build_signature(APP, datetime(2026, 3, 13, 19, 0, tzinfo=timezone.utc), "America/New_York", TEN)
    assert before.key == "dw-blog-load-day-5-hour-14-dra-off-exec-10"
    assert after.key == "dw-blog-load-day-5-hour-15-dra-off-exec-10"


def test_fixed_local_wall_clock_keeps_its_hour_across_dst() -> None:
    zone = "America/New_York"
    runs = [
        datetime(2026, 3, 6, 14, 0, tzinfo=timezone(timedelta(hours=-5))),  # EST
        datetime(2026, 3, 13, 14, 0, tzinfo=timezone(timedelta(hours=-4))),  # EDT
        pendulum.datetime(2026, 3, 13, 14, 0, tz=zone),
    ]
    keys = {build_signature(APP, run, zone, TEN).key for run in runs}
    assert keys == {"dw-blog-load-day-5-hour-14-dra-off-exec-10"}


def test_berlin_dst_change() -> None:
    zone = "Europe/Berlin"
    # Spring forward 2026-03-29: 13:00Z is 14:00 CET on the 27th and 15:00 CEST on 2026-04-03.
    assert build_signature(APP, datetime(2026, 3, 27, 13, tzinfo=timezone.utc), zone, TEN).hour == 14
    assert build_signature(APP, datetime(2026, 4, 3, 13, tzinfo=timezone.utc), zone, TEN).hour == 15
    # Fall back 2026-10-25: two different instants are both 02:30 local.
    first = build_signature(APP, datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc), zone, TEN)
    second = build_signature(APP, datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc), zone, TEN)
    assert first.key == second.key == "dw-blog-load-day-0-hour-2-dra-off-exec-10"


# --- resource spec ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "spec"),
    [
        ({}, "dra-off-exec-default"),
        ({"spark.executor.instances": "10"}, "dra-off-exec-10"),
        ({"spark.dynamicAllocation.enabled": "false", "spark.executor.instances": "5"}, "dra-off-exec-5"),
        (
            {
                "spark.dynamicAllocation.enabled": "true",
                "spark.dynamicAllocation.minExecutors": "2",
                "spark.dynamicAllocation.maxExecutors": "20",
                "spark.executor.instances": "10",
            },
            "dra-on-min-2-max-20",
        ),
        ({"spark.dynamicAllocation.enabled": "TRUE "}, "dra-on-min-default-max-default"),
        (
            {"spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.maxExecutors": "8"},
            "dra-on-min-default-max-8",
        ),
    ],
)
def test_resource_spec(conf: dict[str, str], spec: str) -> None:
    assert resource_spec(conf) == spec
    sig = build_signature(APP, datetime(2026, 3, 6, 14, tzinfo=KST), SEOUL, conf)
    assert sig.key == f"dw-blog-load-day-5-hour-14-{spec}"


# --- configuration errors -----------------------------------------------------------------------


def test_unknown_holiday_country() -> None:
    with pytest.raises(SizingConfigError) as info:
        build_signature(APP, datetime(2026, 3, 6, 14, tzinfo=KST), SEOUL, TEN, holiday_country="XX")
    assert info.value.field == "holiday_country"
    assert "holiday_country" in str(info.value)
    assert "XX" in str(info.value)


def test_unknown_holiday_subdivision() -> None:
    with pytest.raises(SizingConfigError) as info:
        build_signature(
            APP,
            datetime(2026, 3, 6, 14, tzinfo=KST),
            SEOUL,
            TEN,
            holiday_country="US",
            holiday_subdivision="ZZ",
        )
    assert info.value.field == "holiday_subdivision"
    assert "holiday_subdivision" in str(info.value)
    assert "ZZ" in str(info.value)


def test_unknown_timezone() -> None:
    with pytest.raises(SizingConfigError) as info:
        build_signature(APP, datetime(2026, 3, 6, 14, tzinfo=KST), "Mars/Olympus_Mons", TEN)
    assert info.value.field == "timezone"
    assert "timezone" in str(info.value)
    assert "Mars/Olympus_Mons" in str(info.value)


def test_empty_app_name() -> None:
    with pytest.raises(SizingConfigError, match="app_name"):
        build_signature("", datetime(2026, 3, 6, 14, tzinfo=KST), SEOUL, TEN)


# --- hash ---------------------------------------------------------------------------------------

KEYS = st.one_of(
    st.text(max_size=80),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=16), st.integers(min_value=50, max_value=800)),
)


def test_pinned_test_vector() -> None:
    key = "dw-blog-load-day-5-hour-14-dra-off-exec-10"
    assert expected_hash(key) == "s1-l2zgrai5ofahn7egvpris3mhjhgpa4br"
    assert signature_hash(key) == "s1-l2zgrai5ofahn7egvpris3mhjhgpa4br"
    assert signature_hash(key, version=2) == expected_hash(key, version=2)


@given(KEYS)
def test_hash_is_a_valid_label_value_and_follows_the_construction(key: str) -> None:
    value = signature_hash(key)
    assert len(value) <= 63
    assert LABEL_VALUE.fullmatch(value)
    assert is_valid_label_value(value)
    assert value == signature_hash(key)
    assert value == expected_hash(key)


@given(KEYS, KEYS)
def test_different_keys_give_different_hashes(a: str, b: str) -> None:
    assert (signature_hash(a) == signature_hash(b)) == (a == b)


@given(KEYS, st.integers(min_value=1, max_value=1000), st.integers(min_value=1, max_value=1000))
def test_different_versions_give_different_hashes(key: str, v1: int, v2: int) -> None:
    assert (signature_hash(key, v1) == signature_hash(key, v2)) == (v1 == v2)
    assert is_valid_label_value(signature_hash(key, v1))


def test_hash_is_the_same_in_another_process() -> None:
    keys = ["dw-blog-load-day-5-hour-14-dra-off-exec-10", "한글-잡-day-0-hour-3-holiday-x", "x" * 5000, ""]
    script = (
        "import json, sys\n"
        "from airflow_emr_sizing.signature import signature_hash\n"
        "print(json.dumps([signature_hash(k) for k in json.loads(sys.stdin.read())]))\n"
    )
    results = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(keys),
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=60,
        )
        results.append(json.loads(done.stdout))
    assert results[0] == results[1] == [signature_hash(k) for k in keys] == [expected_hash(k) for k in keys]


# --- label keys and values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "signature",
        "a",
        "emr-sizing/signature",
        "example.com/sig",
        "app.kubernetes.io/name",
        "A_b.c-D9",
        "a" * 63,
        "x/" + "a" * 63,
        ("a" * 63 + ".") * 3 + "b" * 61 + "/name",  # 253-character prefix
    ],
)
def test_valid_label_keys(key: str) -> None:
    assert is_valid_label_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "a" * 64,
        "-abc",
        "abc-",
        "_abc",
        "bad key",
        "/name",
        "example.com/",
        "Example.com/name",
        "ex_ample.com/name",
        "a/b/c",
        "abc\n",
        "example.com\n/name",
        "한글",
        ("a" * 63 + ".") * 3 + "b" * 62 + "/name",  # 254-character prefix
    ],
)
def test_invalid_label_keys(key: str) -> None:
    assert not is_valid_label_key(key)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("", True),
        ("a", True),
        ("s1-abc", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("-a", False),
        ("a-", False),
        ("a b", False),
        ("abc\n", False),
        ("é", False),
    ],
)
def test_label_values(value: str, valid: bool) -> None:
    assert is_valid_label_value(value) is valid


@settings(max_examples=200)
@given(st.one_of(st.text(max_size=70), st.text(alphabet=st.sampled_from("aZ9-_.\n /é"), max_size=70)))
def test_label_value_check_matches_kubernetes_regex(value: str) -> None:
    assert is_valid_label_value(value) == (len(value) <= 63 and LABEL_VALUE.fullmatch(value) is not None)


@pytest.mark.parametrize(("offset", "hours"), [("+09:00", 9), ("-05:30", -5.5), ("+00:00", 0)])
def test_a_fixed_utc_offset_is_a_timezone(offset: str, hours: float) -> None:
    instant = datetime(2026, 3, 6, 23, 45, tzinfo=timezone.utc)
    local = instant + timedelta(hours=hours)

    signature = build_signature(APP, instant, offset, TEN)

    assert (signature.day_of_week, signature.hour) == (local.isoweekday() % 7, local.hour)


@pytest.mark.parametrize("name", ["+24:00", "+09:60", "Mars/Base", "09:00", ""])
def test_an_unknown_timezone_names_the_field(name: str) -> None:
    with pytest.raises(SizingConfigError, match="timezone"):
        build_signature(APP, datetime(2026, 3, 6, tzinfo=timezone.utc), name, TEN)
