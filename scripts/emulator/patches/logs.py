"""CloudWatch Logs: retention values.

Patches (numbered as in docs/emulator.md, which says what each restores):

  #18  patch_logs_retention_values
"""

from __future__ import annotations

from typing import Any, Callable

from .helpers import wrap


LOG_RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}


def patch_logs_retention_values() -> None:
    """AWS put_retention_policy accepts only the listed retentionInDays values (InvalidParameterException otherwise);
    moto stores any number."""
    from moto.logs.exceptions import InvalidParameterException
    from moto.logs.models import LogsBackend

    def put_retention_policy(original: Callable[..., Any], self: Any, log_group_name: str, retention_in_days: Any) -> Any:
        if int(retention_in_days) not in LOG_RETENTION_DAYS:
            raise InvalidParameterException(
                constraint=f"Member must satisfy enum value set: {sorted(LOG_RETENTION_DAYS)}",
                parameter="retentionInDays",
                value=retention_in_days,
            )
        return original(self, log_group_name, retention_in_days)

    wrap(LogsBackend, "put_retention_policy", put_retention_policy)
