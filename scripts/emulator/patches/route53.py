"""Route 53: record set changes.

Patches (numbered as in docs/emulator.md, which says what each restores):

  #16  patch_route53_change_validation
"""

from __future__ import annotations

from typing import Any, Callable

from .helpers import wrap


def patch_route53_change_validation() -> None:
    """AWS change_resource_record_sets fails the whole batch with InvalidChangeBatch when a CREATE names a record
    set (name, type, set identifier) that exists, or a DELETE one that does not. moto only checks its change
    journal, so a CREATE after an UPSERT, or a second DELETE, succeeds."""
    from moto.route53.exceptions import Route53ClientError
    from moto.route53.models import Route53Backend

    def key(name: str, rtype: str, set_id: str | None) -> tuple[str, str, str | None]:
        return (name.lower().rstrip(".") + ".", rtype, set_id)

    def change(original: Callable[..., Any], self: Any, zoneid: str, change_list: list[dict[str, Any]]) -> Any:
        zone = self.get_hosted_zone(zoneid)
        present = {key(r.name, r.type, r.set_identifier) for r in zone.rrsets}
        for item in change_list:
            record = item.get("ResourceRecordSet", {})
            k = key(record.get("Name", ""), record.get("Type", ""), record.get("SetIdentifier"))
            shown = f"[name='{k[0]}', type='{k[1]}'" + (f", set-identifier='{k[2]}'" if k[2] else "") + "]"
            if item.get("Action") == "CREATE":
                if k in present:
                    raise Route53ClientError(
                        "InvalidChangeBatch", f"Tried to create resource record set {shown} but it already exists"
                    )
                present.add(k)
            elif item.get("Action") == "DELETE":
                if k not in present:
                    raise Route53ClientError(
                        "InvalidChangeBatch", f"Tried to delete resource record set {shown} but it was not found"
                    )
                present.discard(k)
            elif item.get("Action") == "UPSERT":
                present.add(k)
        return original(self, zoneid, change_list)

    wrap(Route53Backend, "change_resource_record_sets", change)
