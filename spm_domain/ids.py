"""Identifiers used across the system (canonical tables, plans, APIs).

Ids are opaque non-empty strings without surrounding whitespace; source
systems' ids are kept as text (Salesforce 18-char ids, numeric HubSpot ids,
names in the Maven data) so nothing is lost by numeric coercion.
"""

from __future__ import annotations

from typing import NewType

from spm_domain.errors import DomainError

RepId = NewType("RepId", str)
ManagerId = NewType("ManagerId", str)
TeamId = NewType("TeamId", str)
RegionId = NewType("RegionId", str)
AccountId = NewType("AccountId", str)
ProductId = NewType("ProductId", str)
LeadId = NewType("LeadId", str)
OpportunityId = NewType("OpportunityId", str)
TransactionId = NewType("TransactionId", str)
PlanId = NewType("PlanId", str)
RunId = NewType("RunId", str)

COMPANY_ROOT_ID = "company"


def check_id(value: object, kind: str) -> str:
    """Validate an id: a non-empty string with no leading/trailing whitespace."""
    if not isinstance(value, str) or not value or value != value.strip():
        raise DomainError(
            f"invalid {kind} id {value!r}: must be non-empty text without surrounding spaces"
        )
    return value
