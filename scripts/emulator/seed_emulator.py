#!/usr/bin/env python3
"""Seeds the local emulator with what a user's AWS account already has before neo4j-gw runs: a public Route53
hosted zone for the domain and an ISSUED ACM certificate covering <domain> and *.<domain>.

    python scripts/emulator/seed_emulator.py --endpoint http://127.0.0.1:PORT --region us-east-1 --domain example.com [--subdomain mcp]

Idempotent: reuses the public zone named <domain> and an ISSUED certificate requested from ACM for <domain> that
covers *.<domain> (and <subdomain>.<domain>) if they exist. The certificate is requested with DNS validation and its
validation record written in the zone, as an operator does; the emulator then issues it (scripts/emulator/moto_server.py,
patch_acm_dns_validation). A self-signed, imported certificate would not do: the gateway refuses it.
Prints one JSON line: {"hosted_zone_id": "Z...", "certificate_arn": "arn:aws:acm:..."} (the zone id without the
"/hostedzone/" prefix). Talks only to a loopback endpoint, with fake credentials.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import uuid
from urllib.parse import urlparse

import boto3
from botocore.config import Config


def covers(pattern: str, name: str) -> bool:
    if pattern == name:
        return True
    return pattern.startswith("*.") and name.count(".") == pattern.count(".") and name.endswith(pattern[1:])


def find_or_create_zone(route53: object, domain: str) -> str:
    want = domain.rstrip(".") + "."
    zones = route53.list_hosted_zones_by_name(DNSName=want)["HostedZones"]  # type: ignore[attr-defined]
    for zone in zones:
        if zone["Name"] == want and not zone.get("Config", {}).get("PrivateZone", False):
            return zone["Id"].split("/")[-1]
    created = route53.create_hosted_zone(  # type: ignore[attr-defined]
        Name=want,
        CallerReference=f"neo4j-gw-seed-{uuid.uuid4()}",
        HostedZoneConfig={"Comment": "seeded by neo4j-gw scripts/emulator/seed_emulator.py", "PrivateZone": False},
    )
    return created["HostedZone"]["Id"].split("/")[-1]


def find_or_request_certificate(acm: object, route53: object, zone_id: str, domain: str, names: tuple[str, ...]) -> str:
    """An ISSUED ACM certificate (AMAZON_ISSUED) covering the names, as an account gets one: requested with DNS
    validation, the validation CNAME written in the public zone, ACM then issues it (the emulator validates against
    its Route53, as ACM does against public DNS)."""
    paginator = acm.get_paginator("list_certificates")  # type: ignore[attr-defined]
    for page in paginator.paginate(CertificateStatuses=["ISSUED"]):
        for summary in page["CertificateSummaryList"]:
            if summary.get("DomainName") != domain:
                continue
            cert = acm.describe_certificate(CertificateArn=summary["CertificateArn"])["Certificate"]  # type: ignore[attr-defined]
            sans = cert.get("SubjectAlternativeNames", [])
            if cert.get("Type") == "AMAZON_ISSUED" and all(any(covers(p, n) for p in sans) for n in names):
                return cert["CertificateArn"]
    sans = sorted({f"*.{domain}", *(n for n in names if n != domain and not covers(f"*.{domain}", n))})
    arn = acm.request_certificate(  # type: ignore[attr-defined]
        DomainName=domain,
        SubjectAlternativeNames=sans,
        ValidationMethod="DNS",
        Tags=[{"Key": "neo4j-gw:seed", "Value": "true"}],
    )["CertificateArn"]
    options = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"]  # type: ignore[attr-defined]
    records = {(o["ResourceRecord"]["Name"], o["ResourceRecord"]["Value"]) for o in options}
    route53.change_resource_record_sets(  # type: ignore[attr-defined]
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {"Action": "UPSERT", "ResourceRecordSet": {"Name": n, "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": v}]}}
                for n, v in sorted(records)
            ]
        },
    )
    status = acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"]  # type: ignore[attr-defined]
    if status != "ISSUED":
        sys.exit(f"seed_emulator: the certificate is {status} after its validation records were written")
    return arn


def require_loopback(endpoint: str) -> None:
    host = urlparse(endpoint).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        sys.exit(f"seed_emulator: refusing non-loopback endpoint {endpoint!r}; this seeds a local emulator only")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True, help="emulator endpoint, e.g. http://127.0.0.1:5000")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--domain", required=True, help="apex domain of the public hosted zone, e.g. example.com")
    ap.add_argument("--subdomain", default="mcp", help="the certificate must also cover <subdomain>.<domain>")
    args = ap.parse_args(argv)
    require_loopback(args.endpoint)

    domain = args.domain.strip().rstrip(".").lower()
    fqdn = f"{args.subdomain.strip().strip('.').lower()}.{domain}" if args.subdomain else domain
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=args.region)
    config = Config(retries={"max_attempts": 2})
    route53 = session.client("route53", endpoint_url=args.endpoint, config=config)
    acm = session.client("acm", endpoint_url=args.endpoint, config=config)

    zone_id = find_or_create_zone(route53, domain)
    certificate_arn = find_or_request_certificate(acm, route53, zone_id, domain, (domain, f"*.{domain}", fqdn))
    print(json.dumps({"hosted_zone_id": zone_id, "certificate_arn": certificate_arn}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
