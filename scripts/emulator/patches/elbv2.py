"""Elastic Load Balancing v2: load balancers and listeners.

Patches (numbered as in docs/emulator.md, which says what each restores):

  #15  patch_elbv2_duplicate_load_balancer
  #15b patch_elbv2_duplicate_listener
  #15c patch_elbv2_dns_names
"""

from __future__ import annotations

from typing import Any, Callable

from .helpers import bound, wrap


def patch_elbv2_duplicate_load_balancer() -> None:
    """AWS create_load_balancer is idempotent by name: the same name with the same scheme, type and subnets returns
    the existing load balancer, other settings fail with DuplicateLoadBalancerName. moto creates a second load
    balancer with the same name (a different ARN)."""
    from moto.elbv2.exceptions import DuplicateLoadBalancerName
    from moto.elbv2.models import ELBv2Backend

    def create_load_balancer(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        for balancer in self.load_balancers.values():
            if balancer.name != call["name"]:
                continue
            subnets = set(call["subnet_ids"] or []) | {m["SubnetId"] for m in call["subnet_mappings"] or []}
            same = (
                subnets == {s.id for s in balancer.subnets}
                and (call["scheme"] or "internet-facing") == balancer.scheme
                and (call["loadbalancer_type"] or "application") == balancer.type
            )
            if same:
                return balancer
            raise DuplicateLoadBalancerName()
        return original(self, *args, **kwargs)

    wrap(ELBv2Backend, "create_load_balancer", create_load_balancer)


def patch_elbv2_duplicate_listener() -> None:
    """AWS create_listener is idempotent: a second call with the same port and settings returns the existing
    listener; the same port with other settings fails with DuplicateListener. moto checks the port against the
    listeners' ARNs, so it never matches, and a repeated call (e.g. the SDK's retry after a lost answer) makes a
    second listener on the same port."""
    from moto.elbv2.exceptions import DuplicateListenerError
    from moto.elbv2.models import ELBv2Backend

    def create_listener(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound(original, self, *args, **kwargs)
        balancer = self.load_balancers.get(call["load_balancer_arn"])
        if balancer is not None:
            for listener in balancer.listeners.values():
                if str(listener.port) != str(call["port"]):
                    continue
                same = (
                    listener.protocol == (call["protocol"] or "").upper()
                    and listener.certificate == call["certificate"]
                    and listener.ssl_policy == call["ssl_policy"]
                )
                if same:
                    return listener
                raise DuplicateListenerError()
        return original(self, *args, **kwargs)

    wrap(ELBv2Backend, "create_listener", create_listener)


def patch_elbv2_dns_names() -> None:
    """AWS gives every load balancer its own DNS name, '<name>-<digits>.<region>.elb.amazonaws.com': one deleted and
    created again under the same name gets a new DNS name, so a DNS alias to the old one no longer resolves to it.
    moto derives the DNS name from the name alone ('<name>-1.…'), so after such a re-creation the old alias still
    looked right."""
    from moto.elbv2.models import ELBv2Backend
    from moto.moto_api._internal import mock_random

    def create_load_balancer(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        before = set(self.load_balancers)
        balancer = original(self, *args, **kwargs)
        if balancer.arn not in before:
            digits = "".join(mock_random.choice("0123456789") for _ in range(10))
            balancer.dns_name = f"{balancer.name}-{digits}.{self.region_name}.elb.amazonaws.com"
        return balancer

    wrap(ELBv2Backend, "create_load_balancer", create_load_balancer)
