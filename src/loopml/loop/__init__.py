"""The closed loop: alert rules and their actions, the retraining policy, its decisions and
the rollback guard (and later the agent that runs them). Capabilities over
``loopml.monitoring``'s signals, below the entry points (``loopml alerts``, ``loopml loop``,
``loopml agent``). Import the modules (``loopml.loop.policy``, ``loopml.loop.alerts``); this
package re-exports nothing."""
