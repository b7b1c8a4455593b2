"""Secrets Manager: values and version stages.

Patches (numbered as in docs/emulator.md, which says what each restores):

  #17  patch_secretsmanager_put_on_deleted
  #27  patch_secretsmanager_version_stage_current
"""

from __future__ import annotations

from typing import Any, Callable

from .helpers import bound, wrap


def patch_secretsmanager_put_on_deleted() -> None:
    """AWS put_secret_value on a secret scheduled for deletion fails with InvalidRequestException (restore it first);
    moto stores the new version."""
    from moto.secretsmanager.exceptions import InvalidRequestException
    from moto.secretsmanager.models import SecretsManagerBackend

    def put_secret_value(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        secret_id = call["secret_id"]
        if self._is_valid_identifier(secret_id):
            secret = self.secrets[secret_id]
            if getattr(secret, "is_deleted", lambda: False)():
                raise InvalidRequestException(
                    "You can't perform this operation on the secret because it was marked for deletion."
                )
        return original(self, *args, **kwargs)

    wrap(SecretsManagerBackend, "put_secret_value", put_secret_value)


def patch_secretsmanager_version_stage_current() -> None:
    """AWS UpdateSecretVersionStage that moves AWSCURRENT makes the target version the secret's current one (what
    GetSecretValue without a stage answers, and what a later PutSecretValue moves away from); moto moves the label
    but keeps its own default version, so two versions end up labelled AWSCURRENT after the next PutSecretValue
    (the lease's compare-and-swap, src/lease.rs). The check of RemoveFromVersionId itself moto does as AWS does."""
    from moto.secretsmanager.models import SecretsManagerBackend

    def update_secret_version_stage(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        result = original(self, *args, **kwargs)
        target = call.get("move_to_version_id")
        if call.get("version_stage") == "AWSCURRENT" and target:
            secret = self.secrets[call["secret_id"]]
            secret.default_version_id = target
        return result

    wrap(SecretsManagerBackend, "update_secret_version_stage", update_secret_version_stage)
