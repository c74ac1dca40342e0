"""``kg mcp``, ``kg ask`` and ``kg context``: the graph for agents and language models."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kg.cli.options import StoreOpt, open_graph, print_json

BudgetOpt = Annotated[int, typer.Option("--budget", "-b", help="Context budget in tokens (~4 characters each).")]
ModeOpt = Annotated[str, typer.Option(help="Search mode: bm25, dense, hybrid or hybrid+graph.")]
GraphOpt = Annotated[bool, typer.Option("--graph/--no-graph", help="Add facts from the graph around the hits.")]


def register(app: typer.Typer) -> None:
    """Add the agent commands to the ``kg`` app."""

    @app.command()
    def mcp(
        store: StoreOpt = None,
        http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP (on --host) instead of stdio.")] = False,
        port: Annotated[int, typer.Option(help="HTTP port (with --http).")] = 8765,
        host: Annotated[str, typer.Option(help="Address to bind (with --http); anything but "
                                               "127.0.0.1/localhost/::1 needs a --token.")] = "127.0.0.1",
        token: Annotated[str | None, typer.Option(envvar="KG_MCP_TOKEN", help=(
            "Require 'Authorization: Bearer TOKEN' on every HTTP request (16+ characters)."))] = None,
    ) -> None:
        """Serve the read-only graph tools over the Model Context Protocol (stdio by default)."""
        from retrieval.agents.mcp_server import check_bind, serve

        if http:
            check_bind(host, token)  # before the store is opened: a refused bind touches nothing
        g = open_graph(store)  # a typo must not serve (and create) an empty store
        try:
            if http:
                shown = f"[{host}]" if ":" in host else host
                sys.stderr.write(f"kg mcp: streamable HTTP on http://{shown}:{port}/mcp"
                                 + (" (token required)" if token else "") + "\n")
            serve(g, http=http, host=host, port=port, token=token)
        finally:
            g.close()

    @app.command()
    def context(
        query: Annotated[str, typer.Argument(help="The question or topic.")],
        store: StoreOpt = None,
        budget: BudgetOpt = 2000,
        mode: ModeOpt = "hybrid+graph",
        graph: GraphOpt = True,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """A cited context pack for a query: passages and graph facts within a token budget."""
        from kg.graph import KnowledgeGraph
        from retrieval.context import build_context

        g = KnowledgeGraph.open(store, create=False)
        try:
            pack = build_context(g, query, budget_tokens=budget, mode=mode, graph=graph)
        finally:
            g.close()
        if as_json:
            print_json({**pack.to_dict(), "text": pack.to_text()})
        else:
            sys.stdout.write(pack.to_text() + "\n")

    @app.command()
    def ask(
        question: Annotated[str, typer.Argument(help="The question.")],
        store: StoreOpt = None,
        model: Annotated[str | None, typer.Option(envvar="KG_MODEL", help=(
            "Chat model: ollama:NAME, openai:NAME, a name served at --base-url, or an init_chat_model "
            "string. None: print the context and an extractive answer."))] = None,
        base_url: Annotated[str | None, typer.Option(envvar="KG_BASE_URL",
                                                     help="OpenAI-compatible (or Ollama) server URL.")] = None,
        api_key: Annotated[str | None, typer.Option(envvar="KG_API_KEY", help="API key for --base-url.")] = None,
        budget: BudgetOpt = 2000,
        mode: ModeOpt = "hybrid+graph",
        graph: GraphOpt = True,
        agent: Annotated[bool, typer.Option(help="Let the model call the graph tools (LangGraph agent).")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Answer a question from the graph, with citations (extractive when no model is configured)."""
        from kg.errors import require
        from kg.graph import KnowledgeGraph
        from retrieval.ask import ask as run_ask
        from retrieval.ask import load_chat_model
        from retrieval.context import ContextConfig

        if agent:  # before any work: the agent needs LangChain and LangGraph
            require("langchain_core", "agents", "kg ask --agent")
            require("langgraph.prebuilt", "agents", "kg ask --agent")
        chat = load_chat_model(model, base_url=base_url, api_key=api_key)
        g = KnowledgeGraph.open(store, create=False)
        try:
            res = run_ask(g, question, model=chat, budget_tokens=budget, agent=agent,
                          config=ContextConfig(mode=mode, graph=graph))
        finally:
            g.close()
        if as_json:
            print_json(res.to_dict())
            return
        if res.extractive:
            sys.stdout.write(res.pack.to_text() + "\n\n")
            sys.stdout.write("Extractive answer (no chat model configured; see kg ask --help):\n")
        sys.stdout.write(res.answer.strip() + "\n")
        if res.unknown_citations:
            sys.stdout.write(f"\nwarning: citations not in the graph: {', '.join(res.unknown_citations)}\n")
