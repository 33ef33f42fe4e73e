"""Write sizing into a StartJobRun request, on copies, where each value takes effect.

A key already set in the submit/SQL parameters is replaced there, in place (a ``--conf`` word or a
flag's value, keeping the user's quoting of everything else): a value only in ``spark-defaults``
would lose to it. Any other key goes into ``spark-defaults``. StartJobRun's limits are checked on
the result; a request that would break them is refused, never truncated.

YuniKorn gang scheduling reserves executor resources up front from the task groups in a
``yunikorn.apache.org/task-groups`` annotation. When that annotation is in the Spark conf, the
executor group's ``minResource`` is rewritten to the injected pod size so placeholders and real
executors agree. When executors use YuniKorn with a pod template file (which may hold task groups
we cannot see), sizing is refused with that reason.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_emr_sizing.exceptions import SizingRefused
from airflow_emr_sizing.quantities import format_cores
from airflow_emr_sizing.spark_conf import JobConf, read_job_conf

__all__ = [
    "MAX_PARAMETERS_CHARS",
    "MAX_PROPERTIES",
    "MAX_PROPERTY_CHARS",
    "TASK_GROUPS_KEY",
    "Change",
    "Injected",
    "inject",
    "label_conf",
    "yunikorn_values",
]

MAX_PARAMETERS_CHARS = 102_400
MAX_PROPERTIES = 100
MAX_PROPERTY_CHARS = 1024
_YUNIKORN = "yunikorn.apache.org"
TASK_GROUPS_KEY = f"spark.kubernetes.driver.annotation.{_YUNIKORN}/task-groups"
_EXECUTOR_GROUP_KEY = f"spark.kubernetes.executor.annotation.{_YUNIKORN}/task-group-name"
#: Where Spark names the scheduler: for all pods, or per role (Spark 3.3+).
_SCHEDULER_NAME_KEYS = tuple(
    f"spark.kubernetes.{role}scheduler.name" for role in ("", "driver.", "executor.")
)
#: Task groups live on the driver (the gang's originator); executors name theirs.
_POD_TEMPLATE_KEYS = tuple(f"spark.kubernetes.{role}.podTemplateFile" for role in ("driver", "executor"))


@dataclass(frozen=True)
class Change:
    key: str
    before: str | None
    after: str
    where: str  # "parameters" or "spark-defaults"


@dataclass(frozen=True)
class Injected:
    job_driver: dict[str, Any]
    configuration_overrides: dict[str, Any]
    changes: tuple[Change, ...]


def label_conf(label_key: str, label_value: str) -> dict[str, str]:
    """The Spark keys that put a label on both driver and executor pods."""
    return {
        f"spark.kubernetes.driver.label.{label_key}": label_value,
        f"spark.kubernetes.executor.label.{label_key}": label_value,
    }


def inject(
    job_driver: Mapping[str, Any],
    configuration_overrides: Mapping[str, Any] | None,
    values: Mapping[str, str],
) -> Injected:
    """Return copies of the request with ``values`` set where each takes effect.

    Keys whose effective value already equals the new one are left alone and not reported.
    """
    conf = read_job_conf(job_driver, configuration_overrides)
    new_driver = copy.deepcopy(dict(job_driver))
    new_overrides = copy.deepcopy(dict(configuration_overrides or {}))
    params = conf.params
    replacements: list[tuple[int, int, str]] = []
    defaults_updates: dict[str, str] = {}
    changes: list[Change] = []
    for key, value in values.items():
        setting = conf.settings.get(key)
        if setting is not None and setting.value == value:
            continue
        if setting is not None and setting.where == "parameters":
            replacements.extend((slot.start, slot.end, slot.render(value)) for slot in setting.slots)
            changes.append(Change(key, setting.value, value, "parameters"))
        else:
            defaults_updates[key] = value
            changes.append(Change(key, setting.value if setting else None, value, "spark-defaults"))
    for start, end, text in sorted(replacements, reverse=True):
        params = params[:start] + text + params[end:]
    if replacements:
        new_driver[conf.driver] = {**new_driver[conf.driver], conf.params_field: params}
    if defaults_updates:
        _update_spark_defaults(new_overrides, defaults_updates)
    _check_limits(conf.params_field, params, new_overrides)
    return Injected(new_driver, new_overrides, tuple(changes))


def _update_spark_defaults(overrides: dict[str, Any], updates: Mapping[str, str]) -> None:
    classifications = overrides.setdefault("applicationConfiguration", [])
    for classification in classifications:
        if classification.get("classification") == "spark-defaults":
            classification["properties"] = {**(classification.get("properties") or {}), **updates}
            return
    classifications.append({"classification": "spark-defaults", "properties": dict(updates)})


def _check_limits(params_field: str, params: str, overrides: Mapping[str, Any]) -> None:
    if len(params) > MAX_PARAMETERS_CHARS:
        raise SizingRefused(f"{params_field} would be {len(params)} chars (limit {MAX_PARAMETERS_CHARS})")
    classifications = overrides.get("applicationConfiguration") or []
    if len(classifications) > MAX_PROPERTIES:
        raise SizingRefused(f"{len(classifications)} classifications (limit {MAX_PROPERTIES})")
    for classification in classifications:
        properties = classification.get("properties") or {}
        if len(properties) > MAX_PROPERTIES:
            raise SizingRefused(
                f"{classification.get('classification')} would have {len(properties)} properties "
                f"(limit {MAX_PROPERTIES})"
            )
        for key, value in properties.items():
            if len(str(key)) > MAX_PROPERTY_CHARS or len(str(value)) > MAX_PROPERTY_CHARS:
                raise SizingRefused(f"property {str(key)[:80]!r} exceeds {MAX_PROPERTY_CHARS} chars")


def yunikorn_values(conf: JobConf, pod_memory_mib: int, request_cores: float) -> dict[str, str]:
    """Extra values that keep YuniKorn task groups consistent with the injected executor size.

    Returns ``{}`` when the job does not use YuniKorn task groups; raises :class:`SizingRefused`
    when it might but the groups cannot be rewritten from the conf.
    """
    effective = conf.effective
    groups_json = effective.get(TASK_GROUPS_KEY)
    uses_yunikorn = any(
        effective.get(key, "").strip().lower() == "yunikorn" for key in _SCHEDULER_NAME_KEYS
    ) or any(_YUNIKORN in key for key in effective)
    if groups_json is None:
        templates = [key for key in _POD_TEMPLATE_KEYS if effective.get(key, "").strip()]
        if uses_yunikorn and templates:
            raise SizingRefused(
                f"pods are scheduled by YuniKorn with a pod template file ({templates[0]}) that may "
                "define task groups; sizing executors could break gang scheduling"
            )
        return {}
    group_name = effective.get(_EXECUTOR_GROUP_KEY)
    try:
        groups = json.loads(groups_json)
        group = next(g for g in groups if g.get("name") == group_name)
    except (ValueError, StopIteration, AttributeError, TypeError) as err:
        raise SizingRefused(
            f"YuniKorn task groups present but the executor group {group_name!r} is not among them"
        ) from err
    group["minResource"] = {
        **(group.get("minResource") or {}),
        "memory": f"{pod_memory_mib}Mi",
        "cpu": format_cores(request_cores),
    }
    return {TASK_GROUPS_KEY: json.dumps(groups, separators=(",", ":"))}
