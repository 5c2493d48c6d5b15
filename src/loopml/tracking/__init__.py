"""Experiment tracking: experiments, runs, params, metrics, tags and artifacts."""

from loopml.tracking.active_run import ActiveRun
from loopml.tracking.client import Client
from loopml.tracking.fluent import active_run, start_run

__all__ = ["ActiveRun", "Client", "active_run", "start_run"]
