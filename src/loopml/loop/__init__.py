"""Closing the loop: alert rules and their actions, and later the retraining policy, the loop's
decisions and the agent. Capabilities over ``loopml.monitoring``'s signals, below the entry
points (``loopml alerts``, ``loopml agent``)."""
