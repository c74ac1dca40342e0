"""``kg ask``: answer a question from a context pack, with a chat model when one is configured.

Without a model, :func:`ask` returns the context pack and an *extractive* answer: the passage
sentences that best match the question, each with its citation. With a LangChain chat model it
sends the pack (quoted as data) and the question, and checks the answer's citations against the
graph. With ``agent=True`` the model also gets the read-only tools (a LangGraph ReAct agent) and
may search further.

Models (nothing is required; see :func:`load_chat_model`): an OpenAI-compatible server
(``base_url`` + ``api_key``, e.g. vLLM, llama.cpp, LM Studio), Ollama (``"ollama:llama3.2"``),
OpenAI (``"openai:gpt-4o-mini"``), or any ``init_chat_model`` string (``pip install langchain`` and
the provider's package). Settings may come from ``KG_MODEL``, ``KG_BASE_URL`` and ``KG_API_KEY``.

>>> res = ask(g, "What does reciprocal rank fusion combine?")   # doctest: +SKIP
>>> res.extractive, res.citations[:1]                           # doctest: +SKIP
(True, ['[paper:doi:10.1145/1571941.1572114]'])
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kg.errors import ConfigError, require
from retrieval.context import PREAMBLE, ContextConfig, ContextPack, build_context

if TYPE_CHECKING:
    from kg.graph import KnowledgeGraph

SYSTEM_PROMPT = (
    "You answer questions using only the knowledge-graph context the user provides. " + PREAMBLE +
    " Write the id exactly as given, in square brackets, right after each claim, e.g. [paper:doi:10.1/x]. "
    "If the context does not answer the question, say so.")
CITATION = re.compile(r"\[([A-Za-z][\w-]*:[^\[\]\s]+)\]")
"""A citation in an answer: ``[prefix:rest]`` (the node id in brackets)."""


@dataclass(slots=True)
class AskResult:
    """An answer, the citations it uses (``[id]``, in order of first use) and the context pack."""

    question: str
    answer: str
    pack: ContextPack
    citations: list[str] = field(default_factory=list)
    unknown_citations: list[str] = field(default_factory=list)
    model: str | None = None
    extractive: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"question": self.question, "answer": self.answer, "citations": self.citations,
                "unknown_citations": self.unknown_citations, "model": self.model,
                "extractive": self.extractive, "context": self.pack.to_dict()}


def load_chat_model(model: str | None = None, *, base_url: str | None = None, api_key: str | None = None,
                    temperature: float = 0.0) -> Any:
    """A LangChain chat model from user settings, or None when no model is configured.

    ``model`` (or ``$KG_MODEL``): ``"ollama:NAME"``, ``"openai:NAME"``, a bare name served at
    ``base_url`` (or ``$KG_BASE_URL``; OpenAI-compatible, key from ``api_key`` or ``$KG_API_KEY``),
    or any ``langchain.chat_models.init_chat_model`` string such as ``"anthropic:claude-..."``.
    """
    model = model or os.environ.get("KG_MODEL") or None
    base_url = base_url or os.environ.get("KG_BASE_URL") or None
    api_key = api_key or os.environ.get("KG_API_KEY") or None
    if not model:
        if base_url:
            raise ConfigError("a base URL needs a model name too (--model or KG_MODEL)")
        return None
    provider, _, name = model.partition(":") if ":" in model else ("", "", model)
    if provider == "ollama":
        ChatOllama = require("langchain_ollama", "agents", f"model {model!r}").ChatOllama
        return ChatOllama(model=name, temperature=temperature, **({"base_url": base_url} if base_url else {}))
    if provider == "openai" or (not provider and base_url):
        ChatOpenAI = require("langchain_openai", "agents", f"model {model!r}").ChatOpenAI
        extra: dict[str, Any] = {"base_url": base_url} if base_url else {}
        if api_key or base_url:
            extra["api_key"] = api_key or "not-needed"  # local servers often take any key
        return ChatOpenAI(model=name, temperature=temperature, **extra)
    init_chat_model = require("langchain.chat_models", "agents", f"model {model!r} (init_chat_model)").init_chat_model
    kwargs: dict[str, Any] = {"temperature": temperature}
    if base_url:
        kwargs["base_url"] = base_url
    if api_key:
        kwargs["api_key"] = api_key
    return init_chat_model(model, **kwargs)


def messages_for(pack: ContextPack, question: str) -> list[tuple[str, str]]:
    """``[(role, text)]`` for a chat model: instructions, then the quoted pack and the question."""
    return [("system", SYSTEM_PROMPT), ("human", f"{pack.to_text()}\n\nQuestion: {question}")]


def extractive_answer(pack: ContextPack, question: str, *, max_sentences: int = 3) -> str:
    """The passage sentences sharing the most (stemmed) words with the question, each cited."""
    from retrieval.tokenize import Tokenizer

    tok = Tokenizer()
    want = set(tok.tokenize(question))
    scored: list[tuple[float, int, str, str]] = []
    for rank, p in enumerate(pack.passages):
        for sent in re.split(r"(?<=[.!?])\s+", f"{p.title}. {p.text}" if p.text else p.title):
            terms = set(tok.tokenize(sent))
            overlap = len(want & terms)
            if overlap and len(sent) > 20:
                scored.append((overlap / (1 + len(terms)) ** 0.5 - 0.01 * rank, -rank, sent.strip(), p.cite))
    if not scored:
        return "The knowledge graph has no passage that matches the question."
    best = sorted(scored, key=lambda s: (-s[0], -s[1]))[:max_sentences]
    return "\n".join(f"- {sent} {c}" for _, _, sent, c in best)


def check_citations(g: KnowledgeGraph, answer: str) -> tuple[list[str], list[str]]:
    """``(citations that resolve to a node, citations that do not)``, each in order of first use."""
    found = list(dict.fromkeys(f"[{m}]" for m in CITATION.findall(answer)))
    known = g.get_nodes([c[1:-1] for c in found])
    return [c for c in found if c[1:-1] in known], [c for c in found if c[1:-1] not in known]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content
                       if isinstance(b, str) or b.get("type") == "text")
    return str(content)


def ask(g: KnowledgeGraph, question: str, *, model: Any = None, budget_tokens: int = 2000,
        config: ContextConfig | None = None, agent: bool = False) -> AskResult:
    """Answer ``question`` from ``g``: see the module docstring. ``model``: a LangChain chat model or None."""
    pack = build_context(g, question, budget_tokens=budget_tokens, config=config)
    if model is None:
        if agent:
            raise ConfigError("an agent needs a chat model (--model or KG_MODEL)")
        answer = extractive_answer(pack, question)
        cited, unknown = check_citations(g, answer)
        return AskResult(question, answer, pack, cited, unknown, None, True)
    if agent:
        from retrieval.agents.langchain import create_kg_agent

        out = create_kg_agent(model, g).invoke({"messages": messages_for(pack, question)[1:]})
        answer = _text(out["messages"][-1].content)
    else:
        answer = _text(model.invoke(messages_for(pack, question)).content)
    cited, unknown = check_citations(g, answer)
    name = getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
    return AskResult(question, answer, pack, cited, unknown, str(name), False)
