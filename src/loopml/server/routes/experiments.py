"""Experiments: create, get by id or name, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from loopml.core.errors import NotFoundError
from loopml.server.audit import attributed
from loopml.server.auth import Principal, require
from loopml.server.context import Context
from loopml.server.schemas import ExperimentCreate, ExperimentOut, ExperimentPage
from loopml.stores.metadata.base import DEFAULT_MAX_RESULTS

router = APIRouter(tags=["experiments"])


@router.post("/experiments", status_code=201)
def create_experiment(
    body: ExperimentCreate,
    ctx: Context,
    principal: Annotated[Principal, Depends(require("experiments:write"))],
) -> ExperimentOut:
    experiment = ctx.metadata_store.create_experiment(
        body.name, body.tags, event=attributed(principal)
    )
    return ExperimentOut.of(experiment)


@router.get("/experiments/by-name", dependencies=[Depends(require("experiments:read"))])
def get_experiment_by_name(name: Annotated[str, Query()], ctx: Context) -> ExperimentOut:
    """The experiment called ``name``; 404 ``not_found`` if there is none."""
    experiment = ctx.metadata_store.get_experiment_by_name(name)
    if experiment is None:
        raise NotFoundError(f"No experiment is named {name!r}.")
    return ExperimentOut.of(experiment)


@router.get("/experiments/{experiment_id}", dependencies=[Depends(require("experiments:read"))])
def get_experiment(experiment_id: str, ctx: Context) -> ExperimentOut:
    return ExperimentOut.of(ctx.metadata_store.get_experiment(experiment_id))


@router.get("/experiments", dependencies=[Depends(require("experiments:read"))])
def list_experiments(
    ctx: Context,
    max_results: int = DEFAULT_MAX_RESULTS,
    page_token: str | None = None,
) -> ExperimentPage:
    """Experiments oldest first; pass ``next_page_token`` back as ``page_token``."""
    page = ctx.metadata_store.list_experiments(max_results=max_results, page_token=page_token)
    return ExperimentPage.of(page)
