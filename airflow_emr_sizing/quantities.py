"""Memory and CPU quantities exactly as Spark and Kubernetes read them.

Spark (``JavaUtils.byteStringAs``) accepts an integer with an optional binary-unit suffix and
rejects fractions; the unit of a bare number depends on the key (MiB for executor memory, bytes for
``spark.memory.offHeap.size``). Kubernetes CPU quantities allow decimals and millicores.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from airflow_emr_sizing.exceptions import SparkConfError

__all__ = ["MIN_EXECUTOR_MEMORY_MIB", "format_cores", "format_mib", "parse_cores", "parse_memory_mib"]

#: Spark refuses executor memory (heap) below 1.5 x its 300 MiB reserved memory.
MIN_EXECUTOR_MEMORY_MIB = 450

_MEMORY = re.compile(r"([0-9]+)([a-z]+)?")
_FRACTION = re.compile(r"([0-9]+)\.([0-9]+)([a-z]+)?")
_UNIT_SHIFT = {
    "b": 0, "k": 10, "kb": 10, "m": 20, "mb": 20, "g": 30, "gb": 30,
    "t": 40, "tb": 40, "p": 50, "pb": 50,
}  # fmt: skip
_CPU = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(m?)")


def parse_memory_mib(key: str, value: str, default_unit: str = "m") -> int:
    """Parse a Spark memory string into MiB, truncating like Spark's ``byteStringAsMb``.

    :param key: the Spark key (or argument name) the value belongs to, for the error message.
    :param value: the string as written, e.g. ``"4g"``, ``"4608m"``, ``"512"``.
    :param default_unit: the unit of a bare number for this key (``"m"`` or ``"b"``).
    """
    text = str(value).strip().lower()
    match = _MEMORY.fullmatch(text)
    if match is None:
        if _FRACTION.fullmatch(text):
            raise SparkConfError(key, value, "fractional memory sizes are rejected by Spark; use e.g. 4608m")
        raise SparkConfError(key, value, "not a Spark memory size (integer with b/k/m/g/t/p[b] suffix)")
    number, unit = int(match.group(1)), match.group(2) or default_unit
    if unit not in _UNIT_SHIFT:
        raise SparkConfError(key, value, f"unknown memory unit {unit!r}")
    return (number << _UNIT_SHIFT[unit]) >> 20


def format_mib(mib: int) -> str:
    """Render MiB as a Spark memory string Spark accepts: always an integer, ``"4608m"``."""
    if mib < 0:
        raise ValueError(f"memory must be non-negative, got {mib}")
    return f"{int(mib)}m"


def parse_cores(key: str, value: str | float | int) -> float:
    """Parse a Kubernetes CPU quantity (``"500m"``, ``"1.5"``, ``"2"``) into cores."""
    text = str(value).strip()
    match = _CPU.fullmatch(text)
    if match is None:
        raise SparkConfError(key, value, "not a Kubernetes CPU quantity (e.g. 2, 1.5 or 500m)")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as err:  # pragma: no cover - the regex admits only decimals
        raise SparkConfError(key, value, "not a number") from err
    cores = number / 1000 if match.group(2) else number
    if cores <= 0:
        raise SparkConfError(key, value, "CPU must be positive")
    return float(cores)


def format_cores(cores: float) -> str:
    """Render cores as a Kubernetes quantity: whole cores as ``"2"``, else millicores ``"2500m"``."""
    millis = round(cores * 1000)
    if millis <= 0:
        raise ValueError(f"cores must be positive, got {cores}")
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"
