"""Spark memory strings (JavaUtils.byteStringAs) and Kubernetes CPU quantities."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_emr_sizing.exceptions import SizingConfigError, SparkConfError
from airflow_emr_sizing.quantities import format_cores, format_mib, parse_cores, parse_memory_mib

KEY = "spark.executor.memory"
KIB, MIB, GIB, TIB, PIB = 2**10, 2**20, 2**30, 2**40, 2**50

# Bytes per suffix, as Spark's ByteUnit defines them (binary units).
SUFFIX_BYTES = {
    "b": 1,
    "k": KIB,
    "kb": KIB,
    "m": MIB,
    "mb": MIB,
    "g": GIB,
    "gb": GIB,
    "t": TIB,
    "tb": TIB,
    "p": PIB,
    "pb": PIB,
}


# --- memory: accepted forms -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "mib"),
    [
        ("4g", 4096),
        ("4G", 4096),
        ("4Gb", 4096),
        ("4GB", 4096),
        ("4608m", 4608),
        ("4608MB", 4608),
        ("1t", 1024 * 1024),
        ("1tb", 1024 * 1024),
        ("2p", 2 * 1024 * 1024 * 1024),
        ("2048k", 2),
        ("2048kb", 2),
        ("1048576b", 1),
        ("512", 512),  # a bare number is MiB for executor memory
        ("0", 0),
        ("0g", 0),
        ("  4g  ", 4096),
        ("\t8g\n", 8192),
        ("007m", 7),
    ],
)
def test_parse_memory_known_values(value: str, mib: int) -> None:
    assert parse_memory_mib(KEY, value) == mib


@pytest.mark.parametrize(
    ("value", "mib"),
    [
        ("1023k", 0),  # 1023 KiB is less than one MiB: truncated, as byteStringAsMb does
        ("1025k", 1),
        ("2047k", 1),
        ("1048575b", 0),
        ("1048577b", 1),
    ],
)
def test_parse_memory_truncates_to_whole_mib(value: str, mib: int) -> None:
    assert parse_memory_mib(KEY, value) == mib


@pytest.mark.parametrize(
    ("value", "mib"),
    [
        ("1048576", 1),  # bare number in bytes
        ("2097151", 1),
        ("1048575", 0),
        ("536870912", 512),
        ("1g", 1024),  # suffixes still apply
        ("512m", 512),
    ],
)
def test_parse_memory_bare_number_in_bytes(value: str, mib: int) -> None:
    assert parse_memory_mib("spark.memory.offHeap.size", value, default_unit="b") == mib


@given(
    number=st.integers(min_value=0, max_value=10**6),
    suffix=st.sampled_from(sorted(SUFFIX_BYTES)),
    upper=st.lists(st.booleans(), min_size=2, max_size=2),
    pad_left=st.sampled_from(["", " ", "\t", "  \n"]),
    pad_right=st.sampled_from(["", " ", "\t", "\r\n "]),
)
def test_parse_memory_matches_byte_string_as(
    number: int, suffix: str, upper: list[bool], pad_left: str, pad_right: str
) -> None:
    cased = "".join(c.upper() if up else c for c, up in zip(suffix, upper[: len(suffix)], strict=True))
    value = f"{pad_left}{number}{cased}{pad_right}"
    assert parse_memory_mib(KEY, value) == (number * SUFFIX_BYTES[suffix]) // MIB


# --- memory: rejected forms -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["4.5g", "0.5g", "1.0", "4608.25m", "4.5"])
def test_fraction_rejected_naming_key_and_value(value: str) -> None:
    with pytest.raises(SparkConfError) as info:
        parse_memory_mib(KEY, value)
    message = str(info.value)
    assert KEY in message
    assert value in message
    assert info.value.field == KEY
    assert info.value.value == value
    assert isinstance(info.value, SizingConfigError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "g",
        "4x",
        "4gib",
        "4 g",
        "-4g",
        "+4g",
        "4e3m",
        "four",
        "4g4",
        "0x10",
        "4_096m",
        "m4",
        "\u0661\u0662m",
    ],
)
def test_garbage_rejected(value: str) -> None:
    with pytest.raises(SparkConfError) as info:
        parse_memory_mib(KEY, value)
    assert KEY in str(info.value)


def test_garbage_rejected_for_off_heap_key_names_that_key() -> None:
    with pytest.raises(SparkConfError, match=r"spark\.memory\.offHeap\.size"):
        parse_memory_mib("spark.memory.offHeap.size", "lots", default_unit="b")


# --- format_mib -------------------------------------------------------------------------------


def test_format_mib_examples() -> None:
    assert format_mib(4608) == "4608m"
    assert format_mib(0) == "0m"


def test_format_mib_rejects_negative() -> None:
    with pytest.raises(ValueError):
        format_mib(-1)


@given(st.integers(min_value=0, max_value=2**40))
def test_format_mib_round_trips(mib: int) -> None:
    text = format_mib(mib)
    assert "." not in text
    assert parse_memory_mib(KEY, text) == mib
    # The rendered string must be one Spark itself accepts: digits and a unit suffix.
    assert text[:-1].isdigit()
    assert text[-1] == "m"


# --- CPU quantities ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cores"),
    [
        ("500m", 0.5),
        ("1500m", 1.5),
        ("1m", 0.001),
        ("1.5", 1.5),
        ("2", 2.0),
        (".5", 0.5),
        ("0.25", 0.25),
        (" 3 ", 3.0),
        (2, 2.0),
        (1.5, 1.5),
    ],
)
def test_parse_cores_known_values(value: str | float, cores: float) -> None:
    assert parse_cores("spark.kubernetes.executor.request.cores", value) == pytest.approx(cores, abs=1e-12)


@pytest.mark.parametrize("value", ["", "m", "abc", "1.5.2", "2 cores", "-1", "1k", "0", "0m", "0.0", "1e3"])
def test_parse_cores_rejects(value: str) -> None:
    key = "spark.kubernetes.executor.request.cores"
    with pytest.raises(SparkConfError) as info:
        parse_cores(key, value)
    assert key in str(info.value)


@pytest.mark.parametrize(
    ("cores", "text"),
    [(2.0, "2"), (1, "1"), (2.5, "2500m"), (0.5, "500m"), (0.25, "250m"), (0.001, "1m"), (16.0, "16")],
)
def test_format_cores_examples(cores: float, text: str) -> None:
    assert format_cores(cores) == text


@pytest.mark.parametrize("cores", [0, 0.0, -1.0, 0.0004])
def test_format_cores_rejects_non_positive(cores: float) -> None:
    with pytest.raises(ValueError):
        format_cores(cores)


@given(st.floats(min_value=0.001, max_value=512, allow_nan=False, allow_infinity=False))
def test_format_cores_round_trips_within_a_millicore(cores: float) -> None:
    text = format_cores(cores)
    assert abs(parse_cores("cpu", text) - cores) <= 0.001 + 1e-9


@given(st.integers(min_value=1, max_value=512_000))
def test_millicores_round_trip_exactly(millis: int) -> None:
    parsed = parse_cores("cpu", f"{millis}m")
    assert Decimal(str(parsed)) == Decimal(millis) / 1000
    assert format_cores(parsed) == (str(millis // 1000) if millis % 1000 == 0 else f"{millis}m")


@settings(max_examples=200)
@given(st.text(alphabet="0123456789.m ", max_size=8))
def test_parse_cores_never_crashes_unexpectedly(text: str) -> None:
    try:
        cores = parse_cores("cpu", text)
    except SparkConfError:
        return
    assert cores > 0
