"""EC2: security group rules and network interfaces.

Patches (numbered as in docs/emulator.md, which says what each restores):

  #14  patch_ec2_source_group_rule_equality
  #14b patch_ec2_eni_private_dns_name
"""

from __future__ import annotations

from typing import Any


def patch_ec2_source_group_rule_equality() -> None:
    """AWS: a rule's description is not part of its identity; authorizing the same port range from the same source
    security group again fails with InvalidPermission.Duplicate whatever the description. moto compares the source
    group dict including its Description, so a repeat with another (or no) description adds a second identical
    rule, and a revoke by IpPermissions without the description does not find the rule."""
    from moto.ec2.models.security_groups import SecurityGroupRule

    def without_description(group: dict[str, Any] | None) -> dict[str, Any]:
        return {k: v for k, v in (group or {}).items() if k != "Description"}

    def eq(self: Any, other: Any) -> bool:  # moto's __eq__, minus the description
        if not isinstance(other, SecurityGroupRule):
            return NotImplemented  # type: ignore[return-value]
        if self.ip_protocol != other.ip_protocol or self.prefix_list_id != other.prefix_list_id:
            return False
        for field in ("CidrIp", "CidrIpv6"):
            if field in self.ip_range and self.ip_range.get(field) != other.ip_range.get(field):
                return False
        if without_description(self.source_group) != without_description(other.source_group):
            return False
        if self.ip_protocol != "-1" and (self.from_port, self.to_port) != (other.from_port, other.to_port):
            return False
        return True

    SecurityGroupRule.__eq__ = eq  # type: ignore[method-assign]


def patch_ec2_eni_private_dns_name() -> None:
    """moto sets NetworkInterface.private_dns_name only in VPCs with DNS hostnames enabled, and moto's own ECS task
    code reads it unconditionally, so a task (ours or run_task) in such a VPC crashes with AttributeError. AWS
    gives every ENI a private DNS name; default it from the private IP."""
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ec2.utils import generate_dns_from_ip

    def private_dns_name(self: Any) -> str | None:
        if "private_dns_name" in self.__dict__:
            return self.__dict__["private_dns_name"]
        return generate_dns_from_ip(self.private_ip_address) if self.private_ip_address else None

    def set_private_dns_name(self: Any, value: str | None) -> None:
        self.__dict__["private_dns_name"] = value

    NetworkInterface.private_dns_name = property(private_dns_name, set_private_dns_name)  # type: ignore[attr-defined]
