"""A job run's signature: which past runs should size this one.

The key is the original team's format,
``{app_name}-day-{day_of_week}-hour-{hour}-{'holiday-' if holiday else ''}{resource_spec}``:
weekday and hour separate peak slots, the holiday flag separates public holidays, and the resource
spec separates executor-count regimes (sizing is per pod, so the number of executors matters).

``day_of_week`` counts from Sunday = 0 to Saturday = 6, as cron does and as pendulum 2 did when the
original keys were written. The hash turns the key into a Kubernetes label value.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pendulum

from airflow_emr_sizing.exceptions import SizingConfigError
from airflow_emr_sizing.holiday_calendar import is_holiday
from airflow_emr_sizing.settings import zone_of

__all__ = [
    "KEY_FORMAT_VERSION",
    "LABEL_VALUE_PATTERN",
    "Signature",
    "build_signature",
    "is_valid_label_key",
    "is_valid_label_value",
    "resource_spec",
    "signature_hash",
    "zone_of",
]

#: Bumped whenever the key format changes; part of every hash, so formats never collide.
KEY_FORMAT_VERSION = 1
LABEL_VALUE_PATTERN = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HASH_BYTES = 20  # 160 bits: collisions are not a practical concern


@dataclass(frozen=True)
class Signature:
    """A run's signature key, its label-safe hash and the facts the key was built from."""

    key: str
    hash: str
    app_name: str
    day_of_week: int
    hour: int
    holiday: bool
    resource_spec: str
    format_version: int = KEY_FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signature:
        """Rebuild from :meth:`to_json` output (e.g. the XCom audit); extra keys are ignored."""
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def signature_hash(key: str, version: int = KEY_FORMAT_VERSION) -> str:
    """Hash a key into a Kubernetes label value: ``s<version>-<32 base32 chars>``.

    SHA-256 over the version and the UTF-8 key, so the value is the same in every process, machine
    and Python version (unlike ``hash()``), and a future key format never yields today's values.
    """
    digest = hashlib.sha256(f"emr-sizing/v{version}\n{key}".encode()).digest()[:_HASH_BYTES]
    return f"s{version}-" + base64.b32encode(digest).decode("ascii").lower()


def is_valid_label_value(value: str) -> bool:
    # fullmatch: ``$`` alone would also accept a trailing newline.
    return len(value) <= 63 and LABEL_VALUE_PATTERN.fullmatch(value) is not None


def is_valid_label_key(key: str) -> bool:
    """A Kubernetes label key: optional DNS-subdomain prefix and ``/``, then a ≤63-char name."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None


def resource_spec(effective_conf: Mapping[str, str]) -> str:
    """The executor-count part of the key, from the job's *own* conf (before any sizing).

    ``dra-off-exec-<spark.executor.instances>`` or, under dynamic allocation,
    ``dra-on-min-<minExecutors>-max-<maxExecutors>``; an unset count reads ``default``.
    """
    dra = effective_conf.get("spark.dynamicAllocation.enabled", "false").strip().lower() == "true"
    if dra:
        low = effective_conf.get("spark.dynamicAllocation.minExecutors", "default").strip()
        high = effective_conf.get("spark.dynamicAllocation.maxExecutors", "default").strip()
        return f"dra-on-min-{low}-max-{high}"
    return f"dra-off-exec-{effective_conf.get('spark.executor.instances', 'default').strip()}"


def build_signature(
    app_name: str,
    run_time: datetime,
    timezone: str,
    effective_conf: Mapping[str, str],
    holiday_country: str | None = None,
    holiday_subdivision: str | None = None,
) -> Signature:
    """Build the signature of a run starting at ``run_time``, read in ``timezone``.

    :param run_time: the run's logical date (timezone-aware; naive means UTC).
    :param timezone: IANA name the day, hour and holiday are read in, e.g. ``Asia/Seoul``, or a
        fixed UTC offset such as ``+09:00`` (a DAG whose start date has one has that timezone).
    """
    if not app_name:
        raise SizingConfigError("app_name", app_name, "must not be empty")
    local = pendulum.instance(run_time, tz="UTC").in_timezone(zone_of(timezone))
    holiday = is_holiday(local.date(), holiday_country, holiday_subdivision)
    day_of_week = local.isoweekday() % 7
    spec = resource_spec(effective_conf)
    key = f"{app_name}-day-{day_of_week}-hour-{local.hour}-{'holiday-' if holiday else ''}{spec}"
    return Signature(
        key=key,
        hash=signature_hash(key),
        app_name=app_name,
        day_of_week=day_of_week,
        hour=local.hour,
        holiday=holiday,
        resource_spec=spec,
    )
