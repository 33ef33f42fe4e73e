"""click's ``CliRunner`` with click 8.2's streams on every click this package allows (``>=8.1``).

click 8.1 mixes stderr into ``stdout`` unless told not to, and then leaves it out of ``output``;
8.2 keeps ``stdout`` and ``stderr`` apart and shows both in ``output``. The tests read a command's
data from ``stdout`` and its messages from ``output``, as 8.2 gives them.
"""

from __future__ import annotations

import inspect
from typing import Any

from click import testing

__all__ = ["CliRunner"]

_CLICK_8_1 = "mix_stderr" in inspect.signature(testing.CliRunner.__init__).parameters


class _Result81(testing.Result):
    @property
    def output(self) -> str:
        return self.stdout + self.stderr  # 8.2 interleaves them; no test here depends on the order


class CliRunner(testing.CliRunner):
    def __init__(self, **kwargs: Any) -> None:
        if _CLICK_8_1:
            kwargs["mix_stderr"] = False
        super().__init__(**kwargs)

    def invoke(self, *args: Any, **kwargs: Any) -> testing.Result:
        result = super().invoke(*args, **kwargs)
        if _CLICK_8_1:
            result.__class__ = _Result81
        return result
