"""``kg skills``, ``kg skill`` and ``kg skill-path``: the skill graph from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kg.cli.options import JsonOpt, StoreOpt


def _out(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _print_validation(report: Any) -> None:
    from rich.console import Console

    console = Console()
    for f in report.invalid:
        console.print(f"[bold]{f.path}[/bold]", highlight=False)
        for v in f.violations:
            console.print(f"  [yellow]{v.code}[/yellow] {v.message}", highlight=False)
    counts = ", ".join(f"{n} {code}" for code, n in report.counts().items()) or "none"
    console.print(f"{len(report.files)} skill files, {len(report.invalid)} with violations ({counts})")


def register(app: typer.Typer) -> None:
    """Add the skill commands to the ``kg`` app."""

    @app.command()
    def skills(
        query: Annotated[list[str] | None, typer.Argument(
            help="What the skill should do (with --validate: SKILL.md files or folders).")] = None,
        store: StoreOpt = None,
        k: Annotated[int, typer.Option("--k", "-k", help="Number of skills.")] = 10,
        validate: Annotated[bool, typer.Option(
            help="Check SKILL.md files against the Agent Skills spec (default: the ingested ones).")] = False,
        link: Annotated[bool, typer.Option(
            help="Infer RELATED_TO links from skills to topics and papers.")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Find skills (name, description, score), validate SKILL.md files, or link skills to topics."""
        from kg.skills import link_skills, stored_skill_files, validate_skills
        from kg.skills import skills as find

        words = list(query or [])
        if validate:
            paths: list[Path] = [Path(w) for w in words]
            if not paths:
                from kg.graph import KnowledgeGraph

                with KnowledgeGraph.open(store, create=False) as g:
                    paths = stored_skill_files(g)
            report = validate_skills(paths)
            if as_json:
                _out(report.to_dict())
            else:
                _print_validation(report)
            raise typer.Exit(1 if report.invalid else 0)
        from kg.graph import KnowledgeGraph

        with KnowledgeGraph.open(store, create=False) as g:
            if link:
                rep = link_skills(g)
                if as_json:
                    _out(rep.to_dict())
                else:
                    print(f"{rep.skills} skills: {rep.topic_links} topic and {rep.paper_links} paper links ({rep.method})")
                return
            hits = find(g, " ".join(words), k=k)
        if as_json:
            _out({"query": " ".join(words), "skills": [h.to_dict() for h in hits]})
            return
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"skills: {' '.join(words)}" if words else "skills")
        for col in ("score", "name", "description"):
            t.add_column(col, overflow="fold")
        for h in hits:
            t.add_row(f"{h.score:.4f}", h.name, h.description[:160] + ("…" if len(h.description) > 160 else ""))
        Console().print(t)

    @app.command()
    def skill(
        name: Annotated[str, typer.Argument(help="Skill name (or skill:<name>).")],
        store: StoreOpt = None,
        body: Annotated[bool, typer.Option("--body/--no-body", help="Include the SKILL.md body.")] = True,
        as_json: JsonOpt = False,
    ) -> None:
        """One skill: description, body, bundled resources, tools and links."""
        from kg.graph import KnowledgeGraph
        from kg.skills import skill as get

        with KnowledgeGraph.open(store, create=False) as g:
            d = get(g, name, body=body)
        if as_json:
            _out(d.to_dict())
            return
        from rich.console import Console
        from rich.markdown import Markdown

        console = Console()
        console.print(f"[bold]{d.name}[/bold] ({d.id})" + (" [dim]stub[/dim]" if d.stub else ""))
        console.print(d.description, highlight=False)
        for title, items in (("tools", d.tools), ("requires", d.requires), ("next", d.next),
                             ("resources", d.resources)):
            if items:
                console.print(f"[bold]{title}:[/bold] " + ", ".join(items), highlight=False)
        for r in d.related:
            how = f"inferred {r.score:.2f}" if r.inferred and r.score is not None else "declared"
            console.print(f"[bold]related:[/bold] {r.label} {r.title} ({how})", highlight=False)
        if d.body:
            console.rule()
            console.print(Markdown(d.body))

    @app.command(name="skill-path")
    def skill_path(
        start: Annotated[str, typer.Argument(help="Skill to start from.")],
        goal: Annotated[str, typer.Argument(help="Skill to reach.")],
        store: StoreOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The shortest REQUIRES/NEXT path between two skills."""
        from kg.graph import KnowledgeGraph
        from kg.skills import skill_path as find_path

        with KnowledgeGraph.open(store, create=False) as g:
            p = find_path(g, start, goal)
        if as_json:
            _out(p.to_dict())
        elif not p.found:
            print(f"no REQUIRES/NEXT path from {p.start} to {p.goal}")
        else:
            print(" ".join([p.steps[0].name] + [f"-{s.via}-> {s.name}" for s in p.steps[1:]]))
        raise typer.Exit(0 if p.found else 1)
