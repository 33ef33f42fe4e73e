"""An ``EmrContainerHook`` that lets the operator adjust the request it is about to submit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.providers.amazon.aws.hooks.emr import EmrContainerHook

__all__ = ["RequestAdjuster", "SizedEmrContainerHook"]

#: Takes the (job_driver, configuration_overrides) about to be submitted, returns what to submit.
RequestAdjuster = Callable[
    [dict[str, Any], "dict[str, Any] | None"], "tuple[dict[str, Any], dict[str, Any] | None]"
]


class SizedEmrContainerHook(EmrContainerHook):
    """Applies ``adjust_request`` to the payload of ``submit_job`` and nothing else.

    Adjusting here, at the last step, keeps every behaviour of the parent operator's ``execute``
    (OpenLineage injection, deferral, polling) exactly as the amazon provider ships it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adjust_request: RequestAdjuster | None = None

    def submit_job(
        self,
        name: str,
        execution_role_arn: str,
        release_label: str,
        job_driver: dict[str, Any],
        configuration_overrides: dict[str, Any] | None = None,
        client_request_token: str | None = None,
        tags: dict[str, Any] | None = None,
        retry_max_attempts: int | None = None,
    ) -> str:
        if self.adjust_request is not None:
            job_driver, configuration_overrides = self.adjust_request(job_driver, configuration_overrides)
        job_id: str = super().submit_job(
            name,
            execution_role_arn,
            release_label,
            job_driver,
            configuration_overrides,
            client_request_token,
            tags,
            retry_max_attempts,
        )
        return job_id
