"""How much history a store keeps: a cap per signature and an age limit.

The recommender reads only recent runs (a signature's ``plan.HISTORY_LIMIT``, its app's
``plan.POOL_LIMIT``, within the policy's lookback), so old rows serve the CLI's history and
backtests and otherwise cost space; retention bounds that. SQL stores are pruned on demand
(``emr-sizing prune``, e.g. from a daily maintenance DAG); DynamoDB also expires items by itself
through its TTL attribute. Key ↔ hash mappings are never pruned: they are tiny, and they are what
``emr-sizing audit`` needs to explain a label value long after its runs are gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from airflow_emr_sizing.exceptions import SizingConfigError, StoreError
from airflow_emr_sizing.store import MetricsStore

__all__ = ["Prunable", "RetentionPolicy", "prune"]


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep at most ``keep_last`` runs per signature and none older than ``max_age_days``.

    ``None`` (or 0, as in ``[emr_sizing]``) disables that limit.
    """

    keep_last: int | None = None
    max_age_days: float | None = None

    def __post_init__(self) -> None:
        if self.keep_last is not None and self.keep_last < 0:
            raise SizingConfigError("keep_last", self.keep_last, "must be 0 (no cap) or more")
        if self.max_age_days is not None and self.max_age_days < 0:
            raise SizingConfigError("max_age_days", self.max_age_days, "must be 0 (no limit) or more")

    @property
    def cap(self) -> int | None:
        return self.keep_last or None

    def cutoff(self, now: datetime) -> datetime | None:
        """Runs that started before this are dropped (``None``: no age limit)."""
        return now - timedelta(days=self.max_age_days) if self.max_age_days else None

    @property
    def is_unbounded(self) -> bool:
        return self.cap is None and not self.max_age_days


@runtime_checkable
class Prunable(Protocol):
    """A store that can drop old observations itself."""

    def prune(self, *, keep_last: int | None, older_than: datetime | None, dry_run: bool = False) -> int:
        """Delete (or with ``dry_run`` only count) the runs outside the limits; return how many."""


def prune(
    store: MetricsStore, policy: RetentionPolicy, *, now: datetime | None = None, dry_run: bool = False
) -> int:
    """Apply ``policy`` to ``store``; the number of observations removed (or that would be)."""
    if not isinstance(store, Prunable):
        raise StoreError(f"store {store.description} cannot be pruned")
    if policy.is_unbounded:
        return 0
    moment = now or datetime.now(timezone.utc)
    return store.prune(keep_last=policy.cap, older_than=policy.cutoff(moment), dry_run=dry_run)
