"""The closed loop: alert rules, the retraining policy, its decisions and the rollback guard
(and later the agent that runs them). Import the modules (``loopml.loop.policy``,
``loopml.loop.decide``); this package re-exports nothing."""
