"""What ``explain`` and ``backtest`` share: the sizing policy and bounds a task would get.

Both answer "what would the operator do", so both resolve the policy as a task does, through the
operator's own :func:`resolve_policy` / :func:`resolve_bounds`: ``[emr_sizing]`` first, then the
options, as a task's arguments override it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from airflow_emr_sizing.exceptions import SizingConfigError
    from airflow_emr_sizing.recommender import Bounds, Policy

__all__ = ["policy_json", "policy_options"]

F = TypeVar("F", bound=Callable[..., Any])

#: The options, in the order ``--help`` lists them; each is named after the task argument it stands for.
_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "risk",
        {
            "type": click.FloatRange(0, 0.5, min_open=True, max_open=True),
            "help": "Acceptable under-provisioned share, as a task's risk (default: [emr_sizing] risk).",
        },
    ),
    (
        "min_samples",
        {
            "type": click.IntRange(min=1),
            "help": "Runs with known usage needed before sizing (default: [emr_sizing] min_samples).",
        },
    ),
    (
        "node_memory",
        {"help": "Node fit, as a task's node_memory, e.g. 61g (default: [emr_sizing] node_memory)."},
    ),
    (
        "node_cores",
        {"help": "Node fit, as a task's node_cores, e.g. 15.5 (default: [emr_sizing] node_cores)."},
    ),
    ("min_executor_memory", {"help": "As a task's min_executor_memory, e.g. 2g."}),
    ("max_executor_memory", {"help": "As a task's max_executor_memory, e.g. 24g."}),
    ("min_executor_cores", {"help": "As a task's min_executor_cores, e.g. 500m."}),
    ("max_executor_cores", {"help": "As a task's max_executor_cores, e.g. 3."}),
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def policy_options(command: F) -> F:
    """Add the policy options to ``command``, which gets them resolved as ``policy`` and ``bounds``.

    Resolved before the command's body runs, so a bad value is a usage error before any store or
    history file is read.
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name, _ in _OPTIONS}
        policy, bounds = _resolve({name: value for name, value in given.items() if value is not None})
        return command(*args, policy=policy, bounds=bounds, **kwargs)

    decorated: Any = run
    for name, attributes in reversed(_OPTIONS):
        decorated = click.option(_flag(name), name, default=None, **attributes)(decorated)
    return decorated  # type: ignore[no-any-return]


def _resolve(given: dict[str, Any]) -> tuple[Policy, Bounds]:
    """The task's policy and bounds for these options; no Airflow configuration means the defaults."""
    from airflow_emr_sizing.exceptions import EmrSizingError, SizingConfigError
    from airflow_emr_sizing.operators.emr import is_templated, resolve_bounds, resolve_policy
    from airflow_emr_sizing.plan import check_bounds
    from airflow_emr_sizing.settings import load_settings

    for name, value in given.items():
        if is_templated(value):
            raise click.BadParameter(
                "a template: give the value it renders to", param_hint=f"'{_flag(name)}'"
            )
    try:
        policy = resolve_policy(given, load_settings())
        if "min_samples" in given:  # a setting only: tasks have no such argument
            policy = dataclasses.replace(policy, min_samples=given["min_samples"])
        bounds = resolve_bounds(given)
    except SizingConfigError as err:
        raise _usage_error(err, given) from err
    except (EmrSizingError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    try:
        check_bounds(bounds)
    except SizingConfigError as err:  # a min above its max; both are options (bounds have no setting)
        upper = err.field.replace("min_", "max_", 1)
        raise click.BadParameter(
            f"{given[err.field]!r} is above {_flag(upper)} ({given[upper]!r})",
            param_hint=f"'{_flag(err.field)}'",
        ) from err
    return policy, bounds


_FIELDS = re.compile(r"\b(" + "|".join(name for name, _ in _OPTIONS) + r")\b")


def _usage_error(err: SizingConfigError, given: dict[str, Any]) -> click.ClickException:
    """The operator's error in the command line's words: the option and the value as typed.

    The operator names a task's arguments (``node_cores``) and values as it parsed them; here the
    user typed ``--node-cores`` and ``4g``. A value from ``[emr_sizing]`` is named as the setting.
    """
    problem = _FIELDS.sub(lambda match: _flag(match[1]), err.problem)
    hint = f"'{_flag(err.field)}'"
    if err.field in given:
        return click.BadParameter(f"{given[err.field]!r}: {problem}", param_hint=hint)
    if err.value is None and any(name in given for name in ("node_memory", "node_cores")):
        return click.MissingParameter(problem, param_hint=hint, param_type="option")  # half a node
    return click.ClickException(str(err) if err.field.startswith("[") else f"[emr_sizing] {err}")


def policy_json(policy: Policy, bounds: Bounds) -> dict[str, Any]:
    """The policy as reports echo it: the knobs that differ between tasks, and the bounds given."""
    return {
        "risk": policy.risk,
        "margin": policy.margin,
        "lookback_days": policy.lookback_days,
        "min_samples": policy.min_samples,
        "node": dataclasses.asdict(policy.node) if policy.node else None,
        "bounds": {k: v for k, v in dataclasses.asdict(bounds).items() if v is not None},
    }
