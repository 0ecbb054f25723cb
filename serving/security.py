"""API keys, roles and data scope.

A key looks like `spm_<key_id>_<secret>`: the id finds the stored record, the
secret is checked against a salted SHA-256 digest with a constant-time
comparison. The secret is 256 random bits, so a fast salted hash is enough
(slow hashes such as scrypt protect low-entropy passwords, not random
tokens) and every request is checked against the stored record. A store may
keep its records in a cache only while it can prove them current (the SQLite
store checks `PRAGMA data_version`, which changes with every commit by any
other connection), so a revoked key stops working at once. The plain key is shown once, at creation, and never
stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from serving.errors import ForbiddenError, UnauthenticatedError

log = logging.getLogger(__name__)

KEY_PREFIX = "spm"
_KEY_ID_BYTES = 6  # 12 hex characters: unique per store, not secret
_SECRET_BYTES = 32  # 256 bits of entropy


class Role(StrEnum):
    """Who a key acts for. Rep and manager keys are bound to a rep id."""

    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"
    EXECUTIVE = "executive"
    SERVICE = "service"

    @property
    def needs_rep(self) -> bool:
        return self in (Role.REP, Role.MANAGER)


ALL_ROLES: frozenset[Role] = frozenset(Role)
# Roles that see every rep's numbers (no per-rep data scope).
UNSCOPED_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.EXECUTIVE, Role.SERVICE})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    key_id: str
    role: Role
    rep_id: str | None = None


@dataclass(frozen=True)
class KeyRecord:
    """A stored key: everything except the secret itself."""

    key_id: str
    role: Role
    rep_id: str | None
    label: str
    salt: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def principal(self) -> Principal:
        return Principal(key_id=self.key_id, role=self.role, rep_id=self.rep_id)


@dataclass(frozen=True)
class IssuedKey:
    """A newly created key: `plain_key` is shown once and then forgotten."""

    record: KeyRecord
    plain_key: str


class KeyStore(Protocol):
    """Where hashed keys live (SQLite by default, any SQLAlchemy URL)."""

    def add(self, record: KeyRecord) -> None: ...

    def get(self, key_id: str) -> KeyRecord | None: ...

    def list(self) -> list[KeyRecord]: ...

    def revoke(self, key_id: str, when: datetime) -> bool: ...

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        ...

    def describe(self) -> str:
        """The backend kind, e.g. `sqlite` (no hosts or paths: it is shown in readiness)."""
        ...


class TeamDirectory(Protocol):
    """Who reports to whom, from the canonical `reps` table (manager_id)."""

    def team_of(self, manager_id: str) -> frozenset[str]:
        """Every rep under `manager_id`, directly or through other managers."""
        ...

    def describe(self) -> str:
        """Where the roster is read from (for readiness)."""
        ...


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("utf-8")).hexdigest()


def issue_key(
    role: Role, rep_id: str | None = None, label: str = "", *, now: datetime | None = None
) -> IssuedKey:
    """Create a new random key and the record to store (the record holds no secret)."""
    if role.needs_rep and not rep_id:
        raise ValueError(f"a {role.value} key needs the rep id it acts for (--rep)")
    if rep_id is not None and (not rep_id or rep_id != rep_id.strip()):
        raise ValueError(f"invalid rep id {rep_id!r}")
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    salt = secrets.token_hex(16)
    record = KeyRecord(
        key_id=key_id,
        role=role,
        rep_id=rep_id or None,
        label=label,
        salt=salt,
        key_hash=_digest(salt, secret),
        created_at=now or datetime.now(UTC),
    )
    return IssuedKey(record=record, plain_key=f"{KEY_PREFIX}_{key_id}_{secret}")


def _split_key(plain_key: str) -> tuple[str, str] | None:
    parts = plain_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _verify(record: KeyRecord | None, split: tuple[str, str] | None) -> Principal:
    # Compare even when the id is unknown so timing does not reveal which ids exist.
    expected = record.key_hash if record else "0" * 64
    given = _digest(record.salt if record else "00", split[1] if split else "")
    if record is None or not hmac.compare_digest(expected, given):
        raise UnauthenticatedError("the API key is not valid")
    if not record.active:
        raise UnauthenticatedError("the API key has been revoked")
    return record.principal()


def authenticate(store: KeyStore, plain_key: str | None) -> Principal:
    """The principal of a presented key; 401 when missing, malformed, unknown or revoked."""
    if not plain_key:
        raise UnauthenticatedError("an API key is required (header `Authorization: Bearer <key>`)")
    split = _split_key(plain_key.strip())
    return _verify(store.get(split[0]) if split else None, split)


def authenticate_cached(store: KeyStore, plain_key: str | None) -> Principal | None:
    """`authenticate` answered from the store's validated cache, without I/O that
    could block (for the event loop); None when the store cannot answer that way
    (no cache, or the key id is not cached at the store's current version): then
    call `authenticate`. The same checks and errors as `authenticate`."""
    cached = getattr(store, "cached", None)
    if cached is None or not plain_key:
        return None
    split = _split_key(plain_key.strip())
    if split is None:
        return None
    try:
        record = cached(split[0])
    except LookupError:
        return None
    return _verify(record, split)


def api_key_from_headers(headers: dict[str, str]) -> str | None:
    """The key from `Authorization: Bearer <key>` or `X-API-Key: <key>` (lower-case names)."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("x-api-key") or None


def require_role(principal: Principal, allowed: Iterable[Role], action: str) -> None:
    allowed_set = frozenset(allowed)
    if principal.role not in allowed_set:
        raise ForbiddenError(f"role {principal.role.value!r} may not {action}")


def visible_reps(principal: Principal, teams: TeamDirectory) -> frozenset[str] | None:
    """The rep ids a principal may see; None means every rep."""
    if principal.role in UNSCOPED_ROLES:
        return None
    assert principal.rep_id is not None  # issue_key guarantees it for rep and manager keys
    if principal.role is Role.MANAGER:
        return teams.team_of(principal.rep_id) | {principal.rep_id}
    return frozenset({principal.rep_id})


def authorize_reps(principal: Principal, rep_ids: Iterable[str], teams: TeamDirectory) -> None:
    """403 unless every rep id in the request is inside the caller's scope."""
    allowed = visible_reps(principal, teams)
    if allowed is None:
        return
    outside = sorted({r for r in rep_ids if r not in allowed})
    if outside:
        shown = ", ".join(outside[:5]) + (" …" if len(outside) > 5 else "")
        scope = "your own" if principal.role is Role.REP else "your team's"
        raise ForbiddenError(f"rep(s) {shown} are outside your scope: you may see only {scope}")
