"""Governance: lineage queries both ways and model cards, read from what the stores record.

- :mod:`~loopml.governance.lineage`: ``model_lineage(client, "churn@3")`` and
  ``data_lineage(client, "customers@4")`` → a :class:`~loopml.governance.lineage_graph.
  LineageGraph` (JSON, Graphviz DOT, a tree);
- :mod:`~loopml.governance.model_card`: ``build_card(client, "churn@3")``, rendered by
  :mod:`~loopml.governance.card_render` as Markdown or one offline HTML file;
- :mod:`~loopml.governance.model_description`: a model's owner and intended use.

Above ``loopml.monitoring`` and below ``loopml.loop`` in the layers; modules are imported by
what needs them (nothing is imported here).
"""
