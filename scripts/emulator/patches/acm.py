"""Certificate Manager: DNS validation.

Patches (numbered as in docs/emulator.md, which says what each restores):

  #23  patch_acm_dns_validation
"""

from __future__ import annotations

from typing import Any, Callable

from .helpers import wrap


def patch_acm_dns_validation() -> None:
    """AWS: a certificate requested with DNS validation becomes ISSUED once ACM finds the CNAME record it asked
    for (DomainValidationOptions[].ResourceRecord) in public DNS; until then it stays PENDING_VALIDATION (ACM user
    guide, "DNS validation"). moto issues every requested certificate after 60 seconds, records or not. Here it is
    issued when each validation record exists in a public hosted zone of the emulator's Route53, and never by time
    alone."""
    from moto.acm.models import CertBundle
    from moto.route53.models import route53_backends

    def validated(cert: Any) -> bool:
        options = cert.describe()["Certificate"].get("DomainValidationOptions") or []
        if not options:
            return False
        r53 = route53_backends[cert.arn.split(":")[4]]["aws"]
        for option in options:
            record = option["ResourceRecord"]
            name, value = record["Name"].lower(), record["Value"].lower()
            found = False
            for zone in r53.zones.values():
                if zone.private_zone or not (name == zone.name.lower() or name.endswith("." + zone.name.lower())):
                    continue
                for rrset in zone.rrsets:
                    if rrset.name.lower() == name and rrset.type == "CNAME" and any(
                        str(r).lower().rstrip(".") == value.rstrip(".") for r in rrset.records
                    ):
                        found = True
            if not found:
                return False
        return True

    def check(original: Callable[..., Any], self: Any) -> None:
        if self.type == "AMAZON_ISSUED" and self.status == "PENDING_VALIDATION":
            if validated(self):
                self.status = "ISSUED"
            return
        original(self)

    wrap(CertBundle, "check", check)
