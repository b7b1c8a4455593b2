"""Every service: how moto answers a call it does not implement.

Patches (numbered as in docs/emulator.md, which says what each restores):

  #1   patch_not_implemented_as_501
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

from .helpers import wrap


def patch_not_implemented_as_501() -> None:
    """moto answers a call it does not implement with HTTP 500 and an HTML page; AWS SDKs take a 500 for a
    transient fault and retry it with backoff, so a test spends its retry budget and then shows no useful
    message. Answer 501 with a proper error (code NotImplemented) instead, which SDKs do not retry."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult, BaseResponse

    class EmulatorNotImplemented(ServiceException):  # defined here: moto maps errors of moto.* modules to models
        code = "NotImplemented"

    def call_action(original: Callable[..., Any], self: Any) -> Any:
        try:
            return original(self)
        except NotImplementedError as e:
            error = EmulatorNotImplemented(f"not implemented by the local emulator (moto 5.2.5): {e}")
            _status, headers, body = self.serialized(ActionResult(error))
            return 501, headers, body

    warnings.filterwarnings("ignore", message=r"Exception\(EmulatorNotImplemented\)")
    wrap(BaseResponse, "call_action", call_action)
