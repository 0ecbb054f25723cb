"""Entities: what features are about. Join keys are `<entity>_id`."""

from feast import Entity, ValueType

rep = Entity(
    name="rep",
    join_keys=["rep_id"],
    value_type=ValueType.STRING,
    description="A sales rep (canonical `reps.rep_id`).",
)
lead = Entity(
    name="lead",
    join_keys=["lead_id"],
    value_type=ValueType.STRING,
    description="A lead before it becomes an opportunity (`leads.lead_id`).",
)
opportunity = Entity(
    name="opportunity",
    join_keys=["opportunity_id"],
    value_type=ValueType.STRING,
    description="A deal (`opportunities.opportunity_id`).",
)
account = Entity(
    name="account",
    join_keys=["account_id"],
    value_type=ValueType.STRING,
    description="A customer account (`accounts.account_id`).",
)
product = Entity(
    name="product",
    join_keys=["product_id"],
    value_type=ValueType.STRING,
    description="A product (`products.product_id`).",
)
team = Entity(
    name="team",
    join_keys=["team_id"],
    value_type=ValueType.STRING,
    description="A team org unit (`org_units.unit_id` of kind team).",
)
region = Entity(
    name="region",
    join_keys=["region_id"],
    value_type=ValueType.STRING,
    description="A region org unit (`org_units.unit_id` of kind region).",
)
