"""What every patch module uses: the launcher's log line, wrapping a moto method, a call's arguments by name,
the parameters of a create call without its client token."""

from __future__ import annotations

import functools
import inspect
import json
import sys
from typing import Any, Callable


def log(msg: str) -> None:
    print(f"moto_server: {msg}", file=sys.stderr, flush=True)


def wrap(owner: Any, name: str, wrapper: Callable[..., Any]) -> None:
    """Replace owner.name by a function calling wrapper(original, *args, **kwargs). Wraps stack in call order."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def patched(*args: Any, **kwargs: Any) -> Any:
        return wrapper(original, *args, **kwargs)

    setattr(owner, name, patched)


def bound(function: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The arguments of a call to function by parameter name, defaults included (moto mixes positional/keyword)."""
    arguments = inspect.signature(function).bind(*args, **kwargs)
    arguments.apply_defaults()
    return dict(arguments.arguments)


def fingerprint(params: dict[str, Any]) -> str:
    """A request's parameters without its client token, for comparing a repeat with the first request."""
    return json.dumps({k: v for k, v in params.items() if k != "clientToken"}, sort_keys=True, default=str)
