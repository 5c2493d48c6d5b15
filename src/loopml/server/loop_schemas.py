"""Pydantic models of the loop store's routes (deployments, leases); strict requests that
refuse unknown fields, like :mod:`loopml.server.schemas`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from loopml.core.entities import Page
from loopml.core.loop_records import Deployment, DeploymentState, Lease, NewDeployment


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeploymentCreate(_Request):
    id: str
    model: str
    address: str
    heartbeat_ms: int
    alias: str | None = None
    version: int | None = None
    run_id: str | None = None

    def to_new(self) -> NewDeployment:
        return NewDeployment(**self.model_dump())


class DeploymentHeartbeat(_Request):
    version: int | None = None


class DeploymentEnd(_Request):
    reason: str


class DeploymentOut(_Response):
    id: str
    model: str
    address: str
    heartbeat_ms: int
    alias: str | None
    version: int | None
    run_id: str | None
    started_at: int
    heartbeat_at: int
    expires_at: int
    ended_at: int | None
    end_reason: str | None
    state: DeploymentState

    @classmethod
    def of(cls, deployment: Deployment) -> DeploymentOut:
        return cls.model_validate(deployment.to_dict())


class DeploymentPage(_Response):
    items: list[DeploymentOut]
    next_page_token: str | None = None

    @classmethod
    def of(cls, page: Page[Deployment]) -> DeploymentPage:
        return cls(items=[DeploymentOut.of(d) for d in page], next_page_token=page.next_page_token)


class DeploymentList(_Response):
    items: list[DeploymentOut]


class LeaseAcquire(_Request):
    holder: str
    ttl_ms: int


class LeaseHeld(_Request):
    holder: str
    token: int


class LeaseRenew(LeaseHeld):
    ttl_ms: int


class LeaseOut(_Response):
    name: str
    holder: str
    token: int
    acquired_at: int
    expires_at: int

    @classmethod
    def of(cls, lease: Lease) -> LeaseOut:
        return cls(
            name=lease.name,
            holder=lease.holder,
            token=lease.token,
            acquired_at=lease.acquired_at,
            expires_at=lease.expires_at,
        )


class LeaseAnswer(_Response):
    """``lease`` is None when somebody else holds the name (acquire) or nobody does (get)."""

    lease: LeaseOut | None

    @classmethod
    def of(cls, lease: Lease | None) -> LeaseAnswer:
        return cls(lease=None if lease is None else LeaseOut.of(lease))
