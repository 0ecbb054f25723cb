"""Errors of target allocation: each names the node, level, file or field at fault."""

from __future__ import annotations

from spm_domain.errors import DomainError


class TargetError(DomainError):
    """A target, weight, tree or template that cannot be allocated as asked."""
