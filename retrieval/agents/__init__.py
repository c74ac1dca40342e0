"""Agent-facing access to the graph: framework-free read-only tools, LangChain adapters, an MCP server.

* :mod:`retrieval.agents.tools`: :class:`~retrieval.agents.tools.KGTools` (typed tool methods) and
  :func:`~retrieval.agents.tools.tool_schemas` (their JSON schemas); no framework imports.
* :mod:`retrieval.agents.langchain`: ``KGRetriever``, ``kg_tools``, ``create_kg_agent``
  (``pip install 'kgloom[agents]'``).
* :mod:`retrieval.agents.mcp_server`: ``create_server`` / ``serve`` behind ``kg mcp``.

This package's ``__init__`` imports nothing, so ``import retrieval.agents`` stays cheap and never
pulls in LangChain or MCP.
"""
