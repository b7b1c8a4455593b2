#!/usr/bin/env python3
"""Seeds the local emulator with what a user's AWS account already has before neo4j-gw runs: a public Route53
hosted zone for the domain and an ISSUED ACM certificate covering <domain> and *.<domain>.

    python scripts/seed_emulator.py --endpoint http://127.0.0.1:PORT --region us-east-1 --domain example.com [--subdomain mcp]

Idempotent: reuses the public zone named <domain> and an imported, ISSUED certificate for <domain> that covers
*.<domain> (and <subdomain>.<domain>) if they exist. The certificate is self-signed, generated here with the
`cryptography` package, and imported (moto leaves requested certificates PENDING_VALIDATION for ever).
Prints one JSON line: {"hosted_zone_id": "Z...", "certificate_arn": "arn:aws:acm:..."} (the zone id without the
"/hostedzone/" prefix). Talks only to a loopback endpoint, with fake credentials.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import sys
import uuid
from urllib.parse import urlparse

import boto3
from botocore.config import Config


def self_signed_certificate(domain: str, extra_names: tuple[str, ...] = ()) -> tuple[str, str]:
    """A PEM (certificate, private key) pair, RSA 2048, CN=<domain>, SANs <domain>, *.<domain> and extra_names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    names = list(dict.fromkeys([domain, f"*.{domain}", *extra_names]))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_cert = cert.public_bytes(serialization.Encoding.PEM).decode()
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    return pem_cert, pem_key


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
        HostedZoneConfig={"Comment": "seeded by neo4j-gw scripts/seed_emulator.py", "PrivateZone": False},
    )
    return created["HostedZone"]["Id"].split("/")[-1]


def find_or_import_certificate(acm: object, domain: str, names: tuple[str, ...]) -> str:
    paginator = acm.get_paginator("list_certificates")  # type: ignore[attr-defined]
    for page in paginator.paginate(CertificateStatuses=["ISSUED"]):
        for summary in page["CertificateSummaryList"]:
            if summary.get("DomainName") != domain:
                continue
            cert = acm.describe_certificate(CertificateArn=summary["CertificateArn"])["Certificate"]  # type: ignore[attr-defined]
            sans = cert.get("SubjectAlternativeNames", [])
            if (
                cert.get("Type") == "IMPORTED"
                and cert.get("Status") == "ISSUED"
                and all(any(covers(p, n) for p in sans) for n in names)
            ):
                return cert["CertificateArn"]
    extra = tuple(n for n in names if not covers(f"*.{domain}", n) and n != domain)
    pem_cert, pem_key = self_signed_certificate(domain, extra)
    return acm.import_certificate(  # type: ignore[attr-defined]
        Certificate=pem_cert.encode(),
        PrivateKey=pem_key.encode(),
        Tags=[{"Key": "neo4j-gw:seed", "Value": "true"}],
    )["CertificateArn"]


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
    certificate_arn = find_or_import_certificate(acm, domain, (domain, f"*.{domain}", fqdn))
    print(json.dumps({"hosted_zone_id": zone_id, "certificate_arn": certificate_arn}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
