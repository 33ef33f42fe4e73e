"""Read a StartJobRun request's Spark conf the way EMR on EKS and Spark on Kubernetes will.

A job's sizing can sit in three places: ``--executor-memory``-style flags and ``--conf k=v`` in the
job driver's submit/SQL parameters, and the ``spark-defaults`` classification of
``configurationOverrides``. EMR's precedence is parameters over ``spark-defaults``; inside the
parameters a dedicated flag beats a ``--conf`` of the same key, and a later ``--conf`` beats an
earlier one. Everything here is pure: no I/O, nothing mutated.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from airflow_emr_sizing.audit import REDACTED, is_secret_key
from airflow_emr_sizing.exceptions import SparkConfError
from airflow_emr_sizing.quantities import parse_cores, parse_memory_mib

__all__ = [
    "EXECUTOR_CORES",
    "EXECUTOR_INSTANCES",
    "EXECUTOR_MEMORY",
    "EXECUTOR_MEMORY_OVERHEAD",
    "EXECUTOR_REQUEST_CORES",
    "FLAG_KEYS",
    "ConfSetting",
    "ExecutorSize",
    "JobConf",
    "Token",
    "ValueSlot",
    "executor_size",
    "read_job_conf",
    "tokenize",
]

EXECUTOR_MEMORY = "spark.executor.memory"
EXECUTOR_MEMORY_OVERHEAD = "spark.executor.memoryOverhead"
EXECUTOR_CORES = "spark.executor.cores"
EXECUTOR_REQUEST_CORES = "spark.kubernetes.executor.request.cores"
EXECUTOR_LIMIT_CORES = "spark.kubernetes.executor.limit.cores"
EXECUTOR_INSTANCES = "spark.executor.instances"

#: spark-submit flags that are shorthands for a Spark key (and win over ``--conf`` of that key).
FLAG_KEYS: dict[str, str] = {
    "--executor-memory": EXECUTOR_MEMORY,
    "--executor-cores": EXECUTOR_CORES,
    "--num-executors": EXECUTOR_INSTANCES,
    "--driver-memory": "spark.driver.memory",
    "--driver-cores": "spark.driver.cores",
}
_CONF_FLAGS = ("--conf", "-c")
#: spark-submit options that take no value (every other option takes one), and spark-sql's.
_SWITCHES = frozenset(
    {
        "--verbose",
        "-v",
        "--supervise",
        "--help",
        "-h",
        "--version",
        "--usage-error",
        "--load-spark-defaults",
        "-S",
        "--silent",
    }
)
#: Replaces spark-defaults.conf (EMR's ``spark-defaults`` classification) with a file we cannot see.
PROPERTIES_FILE = "--properties-file"
#: Older names Spark still reads when the key itself is unset (``SparkConf.configsWithAlternatives``).
_ALTERNATES = {
    EXECUTOR_MEMORY_OVERHEAD: "spark.yarn.executor.memoryOverhead",
    "spark.memory.offHeap.enabled": "spark.unsafe.offHeap",
}
_SPARK_DEFAULTS = "spark-defaults"
_MIN_OVERHEAD_MIB = 384
#: shlex's whitespace (str.isspace() would also split on e.g. a no-break space, which shlex keeps).
_WHITESPACE = " \t\r\n"

Where = Literal["parameters", "spark-defaults", "unset"]


@dataclass(frozen=True)
class Token:
    """One shell word of the parameters string and where it sits in the original text."""

    text: str
    start: int
    end: int


def tokenize(params: str, field: str = "sparkSubmitParameters") -> list[Token]:
    """Split like ``shlex.split`` (POSIX rules) but keep each word's span in the original string.

    The spans let injection replace exactly one value and leave the user's quoting of every other
    word as written. ``field`` names the parameters in errors.
    """
    tokens: list[Token] = []
    i, n = 0, len(params)
    while i < n:
        if params[i] in _WHITESPACE:
            i += 1
            continue
        start, word = i, []
        while i < n and params[i] not in _WHITESPACE:
            char = params[i]
            if char == "'":
                close = params.find("'", i + 1)
                if close < 0:
                    raise _unsplittable(field, params, start, i, "unclosed single quote")
                word.append(params[i + 1 : close])
                i = close + 1
            elif char == '"':
                closed = _read_double_quoted(params, i + 1, word)
                if closed < 0:
                    raise _unsplittable(field, params, start, i, "unclosed double quote")
                i = closed
            elif char == "\\":
                if i + 1 >= n:
                    raise _unsplittable(field, params, start, i, "ends with a lone backslash")
                word.append(params[i + 1])
                i += 2
            else:
                word.append(char)
                i += 1
        tokens.append(Token("".join(word), start, min(i, n)))
    return tokens


def _read_double_quoted(params: str, i: int, word: list[str]) -> int:
    """Read up to the closing quote; return the index after it, or -1 when there is none."""
    n = len(params)
    while i < n:
        char = params[i]
        if char == '"':
            return i + 1
        # shlex (POSIX mode) escapes only the quote and the backslash inside double quotes.
        if char == "\\" and i + 1 < n and params[i + 1] in '"\\':
            word.append(params[i + 1])
            i += 2
            continue
        word.append(char)
        i += 1
    return -1


def _unsplittable(field: str, params: str, start: int, at: int, problem: str) -> SparkConfError:
    """The error for a word that cannot be split, showing it only up to the trouble at ``at``.

    What follows an unclosed quote can be the rest of the string, secrets of later ``--conf``
    values included: it must not reach the error, the audit or the log.
    """
    shown = params[start : at + 1]
    if is_secret_key(shown):
        shown = REDACTED
    elif len(shown) > 80:
        shown = "…" + shown[-79:]
    return SparkConfError(field, shown, f"{problem} (at offset {at})")


def loose_settings(
    job_driver: Mapping[str, Any], configuration_overrides: Mapping[str, Any] | None
) -> list[tuple[str, str]]:
    """Every ``key=value`` word of a request whose conf cannot be read, quotes or not (best effort).

    For masking secrets only: a conf that fails to parse may still hold them.
    """
    found: list[tuple[str, str]] = []
    for spec in job_driver.values() if isinstance(job_driver, Mapping) else ():
        for text in spec.values() if isinstance(spec, Mapping) else ():
            if isinstance(text, str):
                found += _loose_values(text)
    for classification in (configuration_overrides or {}).get("applicationConfiguration") or []:
        properties = classification.get("properties") if isinstance(classification, Mapping) else None
        if isinstance(properties, Mapping):
            found += [(str(key), str(value)) for key, value in properties.items()]
    return found


_LOOSE_KEY = re.compile(r"""([^\s='"]+)=""")


def _loose_values(text: str) -> list[tuple[str, str]]:
    """Each ``key=`` with every reading of its value: where the quoting is broken, which is meant
    cannot be known, and masking too much is harmless."""
    found = []
    for match in _LOOSE_KEY.finditer(text):
        rest, opened = text[match.end() :], text[match.start() - 1 : match.start()]
        readings = {
            rest.split(maxsplit=1)[0] if rest.strip() else "",
            re.split(r"""[\s'"]""", rest, maxsplit=1)[0],
        }
        if rest[:1] in ("'", '"'):  # key='value ...' : to the closing quote, or the end
            readings.add(rest[1:].split(rest[0], 1)[0])
        if opened in ("'", '"'):  # 'key=value ...' : the same
            readings.add(rest.split(opened, 1)[0])
        found += [(match[1], value) for value in readings if len(value) >= 4]
    return found


@dataclass(frozen=True)
class ValueSlot:
    """A value's place in the parameters string: replace ``[start, end)`` with :meth:`render`."""

    start: int
    end: int
    outer: str = ""  # text before the shell word's quoted part, e.g. ``--conf=``
    inner: str = ""  # text inside the word before the value, e.g. ``spark.executor.memory=``

    def render(self, value: str) -> str:
        return self.outer + shlex.quote(self.inner + value)


@dataclass(frozen=True)
class ConfSetting:
    """Where one key's effective value came from, so injection can write it back there."""

    key: str
    value: str
    where: Where
    #: Places in the parameters string holding this key (a flag's value, a ``k=v`` word).
    slots: tuple[ValueSlot, ...] = ()


@dataclass(frozen=True)
class JobConf:
    """The Spark conf a StartJobRun request carries, with where each key is set."""

    driver: Literal["sparkSubmitJobDriver", "sparkSqlJobDriver"]
    params_field: Literal["sparkSubmitParameters", "sparkSqlParameters"]
    params: str
    entry_point: str
    spark_defaults: Mapping[str, str]
    settings: Mapping[str, ConfSetting] = field(default_factory=dict)
    #: ``--properties-file``'s value: Spark then reads that file instead of spark-defaults.
    properties_file: str | None = None

    def get(self, key: str, default: str | None = None) -> str | None:
        setting = self.settings.get(key)
        return setting.value if setting is not None else default

    def where(self, key: str) -> Where:
        setting = self.settings.get(key)
        return setting.where if setting is not None else "unset"

    @property
    def effective(self) -> dict[str, str]:
        return {key: s.value for key, s in self.settings.items()}

    @property
    def is_python(self) -> bool:
        """Spark's own test (``SparkSubmit.isPython``): the main resource ends in ``.py``."""
        return self.entry_point.endswith(".py")

    @property
    def is_r(self) -> bool:
        return self.entry_point.endswith((".R", ".r"))


def read_job_conf(
    job_driver: Mapping[str, Any], configuration_overrides: Mapping[str, Any] | None
) -> JobConf:
    """Parse a StartJobRun ``jobDriver`` and ``configurationOverrides`` into a :class:`JobConf`."""
    if "sparkSubmitJobDriver" in job_driver:
        driver: Literal["sparkSubmitJobDriver", "sparkSqlJobDriver"] = "sparkSubmitJobDriver"
        params_field: Literal["sparkSubmitParameters", "sparkSqlParameters"] = "sparkSubmitParameters"
    elif "sparkSqlJobDriver" in job_driver:
        driver, params_field = "sparkSqlJobDriver", "sparkSqlParameters"
    else:
        raise SparkConfError(
            "job_driver", sorted(job_driver), "needs sparkSubmitJobDriver or sparkSqlJobDriver"
        )
    spec = job_driver[driver] or {}
    params = spec.get(params_field) or ""
    if not isinstance(params, str):
        raise SparkConfError(f"{driver}.{params_field}", type(params).__name__, "must be a string")
    defaults = spark_defaults_of(configuration_overrides)

    settings: dict[str, ConfSetting] = {
        key: ConfSetting(key, str(value), "spark-defaults") for key, value in defaults.items()
    }
    from_params, properties_file = _settings_from_params(params, params_field)
    settings.update(from_params)
    return JobConf(
        driver=driver,
        params_field=params_field,
        params=params,
        entry_point=str(spec.get("entryPoint") or ""),
        spark_defaults=defaults,
        settings=settings,
        properties_file=properties_file,
    )


def spark_defaults_of(configuration_overrides: Mapping[str, Any] | None) -> dict[str, str]:
    """The ``spark-defaults`` properties of ``configurationOverrides`` (empty when absent)."""
    for classification in (configuration_overrides or {}).get("applicationConfiguration") or []:
        if classification.get("classification") == _SPARK_DEFAULTS:
            return {str(k): str(v) for k, v in (classification.get("properties") or {}).items()}
    return {}


@functools.lru_cache(maxsize=16)
def _settings_from_params(params: str, params_field: str) -> tuple[Mapping[str, ConfSetting], str | None]:
    """The settings of a parameters string, and its ``--properties-file`` (read-only: cached, as a
    submission parses it several times)."""
    from_conf: dict[str, ConfSetting] = {}
    from_flags: dict[str, ConfSetting] = {}
    properties_file = None
    for option, value, outer in _options(tokenize(params, params_field), params_field):
        if option == PROPERTIES_FILE:
            properties_file = value.text
            continue
        if option in _CONF_FLAGS:
            key, sep, conf_value = value.text.partition("=")
            if not sep:
                raise SparkConfError(params_field, value.text, "--conf needs key=value")
            if not key:
                continue  # Spark accepts it and ignores it, as any key not starting with "spark."
            slot = ValueSlot(value.start, value.end, outer, key + "=")
            target, store_key, store_value = from_conf, key, conf_value
        else:
            store_key, store_value = FLAG_KEYS[option], value.text
            slot, target = ValueSlot(value.start, value.end, outer), from_flags
        earlier = target.get(store_key)
        target[store_key] = ConfSetting(
            store_key, store_value, "parameters", (*earlier.slots, slot) if earlier else (slot,)
        )
    merged = dict(from_conf)
    for key, flag in from_flags.items():
        conf = from_conf.get(key)
        merged[key] = ConfSetting(key, flag.value, "parameters", (conf.slots if conf else ()) + flag.slots)
    return MappingProxyType(merged), properties_file


_READ_OPTIONS = frozenset((*_CONF_FLAGS, *FLAG_KEYS, PROPERTIES_FILE))


def _options(tokens: list[Token], params_field: str) -> Iterator[tuple[str, Token, str]]:
    """Yield (option, value token, text before the value) for the options we read.

    ``--conf=k=v`` yields a value token spanning the whole word with ``"--conf="`` before it.
    """
    i = 0
    while i < len(tokens):
        word = tokens[i]
        name, sep, inline = word.text.partition("=")
        if sep and name in _READ_OPTIONS:
            yield name, Token(inline, word.start, word.end), name + "="
            i += 1
        elif word.text in _READ_OPTIONS:
            if i + 1 >= len(tokens):
                raise SparkConfError(params_field, word.text, "option given without a value")
            yield word.text, tokens[i + 1], ""
            i += 2
        elif word.text.startswith("-") and word.text not in _SWITCHES and not sep:
            i += 2  # an option we do not size (--class, --jars, ...) and its value
        else:
            i += 1


@dataclass(frozen=True)
class ExecutorSize:
    """An executor pod's resources as Spark on Kubernetes requests them (memory: request = limit)."""

    heap_mib: int
    overhead_mib: int
    off_heap_mib: int
    pyspark_mib: int
    cores: int
    request_cores: float
    instances: int | None
    #: The pod's CPU limit when the job sets one: Kubernetes rejects a request above it.
    limit_cores: float | None = None

    @property
    def pod_memory_mib(self) -> int:
        return self.heap_mib + self.overhead_mib + self.off_heap_mib + self.pyspark_mib


def executor_size(conf: JobConf, defaults: Mapping[str, str] | None = None) -> ExecutorSize:
    """Compute the executor pod request from the effective conf, as Spark's BasicExecutorFeatureStep.

    :param defaults: values assumed for keys the job leaves unset (e.g. EMR's own defaults).
    """
    effective = {**(defaults or {}), **conf.effective}
    for key, older in _ALTERNATES.items():
        if key not in effective and older in effective:
            effective[key] = effective[older]

    def memory(key: str, default: str, unit: str = "m") -> int:
        return parse_memory_mib(key, effective.get(key, default), unit)

    heap = memory(EXECUTOR_MEMORY, "1g")
    if EXECUTOR_MEMORY_OVERHEAD in effective:
        overhead = memory(EXECUTOR_MEMORY_OVERHEAD, "0")
    else:
        factor = _overhead_factor(effective, non_jvm=conf.is_python or conf.is_r)
        overhead = max(
            int(factor * heap), memory("spark.executor.minMemoryOverhead", f"{_MIN_OVERHEAD_MIB}m")
        )
    off_heap = 0
    if effective.get("spark.memory.offHeap.enabled", "false").strip().lower() == "true":
        off_heap = memory("spark.memory.offHeap.size", "0", unit="b")
    pyspark = memory("spark.executor.pyspark.memory", "0") if conf.is_python else 0
    cores = _positive_int(effective, EXECUTOR_CORES, "1")
    request = effective.get(EXECUTOR_REQUEST_CORES)
    limit = effective.get(EXECUTOR_LIMIT_CORES, "").strip()
    instances = effective.get(EXECUTOR_INSTANCES)
    return ExecutorSize(
        heap_mib=heap,
        overhead_mib=overhead,
        off_heap_mib=off_heap,
        pyspark_mib=pyspark,
        cores=cores,
        request_cores=parse_cores(EXECUTOR_REQUEST_CORES, request) if request else float(cores),
        instances=_positive_int(effective, EXECUTOR_INSTANCES, "0") if instances is not None else None,
        limit_cores=parse_cores(EXECUTOR_LIMIT_CORES, limit) if limit else None,
    )


def _overhead_factor(effective: Mapping[str, str], *, non_jvm: bool) -> float:
    for key in ("spark.executor.memoryOverheadFactor", "spark.kubernetes.memoryOverheadFactor"):
        if key in effective:
            try:
                factor = float(effective[key])
            except ValueError as err:
                raise SparkConfError(key, effective[key], "not a number") from err
            if not factor >= 0:
                raise SparkConfError(key, effective[key], "must be non-negative")
            return factor
    return 0.4 if non_jvm else 0.1


_WHOLE_NUMBER = re.compile(r"\+?[0-9]+")


def _positive_int(effective: Mapping[str, str], key: str, default: str) -> int:
    raw = effective.get(key, default).strip()
    if not _WHOLE_NUMBER.fullmatch(raw):  # as Java's parseInt reads it: "+4" is 4
        raise SparkConfError(key, effective.get(key, default), "not a whole number")
    return int(raw)
