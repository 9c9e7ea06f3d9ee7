"""A paper as Markdown (`/papers/{id}.md`): what Hugging Face's `read_paper` returns, for agents and scripts.

Title, authors, identifiers and links, the abstract, Hugging Face's AI summary and keywords when known,
and the local discussion — everything the paper page shows, without the page.
"""

from __future__ import annotations

from paperscope.model import Paper
from paperscope.store.comments import Comment


def _line(label: str, value: object) -> str:
    return f"- **{label}:** {value}"


def paper_markdown(paper: Paper, link: str, discussion: list[Comment]) -> str:
    """The Markdown document for one paper; `link` is its page's absolute address."""
    hf = paper.hf
    lines = [f"# {paper.title}", ""]
    if paper.authors:
        lines += [_line("Authors", ", ".join(paper.authors))]
    if paper.arxiv_id:
        lines += [_line("arXiv", f"[{paper.arxiv_id}]({paper.abs_url})"), _line("PDF", paper.pdf_url)]
    if paper.doi:
        lines += [_line("DOI", f"[{paper.doi}](https://doi.org/{paper.doi})")]
    if paper.published:
        lines += [_line("Published", paper.published.isoformat())]
    if paper.categories:
        lines += [_line("Categories", ", ".join(paper.categories))]
    if paper.journal_ref:
        lines += [_line("Journal reference", paper.journal_ref)]
    lines += [_line("Upvotes", paper.upvotes)]
    if hf and hf.github_repo:
        stars = f" ({hf.github_stars} stars)" if hf.github_stars is not None else ""
        lines += [_line("Code", f"{hf.github_repo}{stars}")]
    if hf and hf.project_page:
        lines += [_line("Project page", hf.project_page)]
    if hf and hf.submitted_by:
        lines += [_line("Submitted by", hf.submitted_by)]
    lines += [_line("Page", link), "", "## Abstract", "", paper.abstract.strip() or "(no abstract)", ""]
    if hf and hf.summary:
        lines += ["## AI summary", "", hf.summary.strip(), ""]
    if hf and hf.keywords:
        lines += ["## Keywords", "", ", ".join(hf.keywords), ""]
    if discussion:
        lines += [f"## Discussion ({len(discussion)})", ""]
        for c in discussion:
            lines += [f"### {c.username} · {c.created_at.date().isoformat()}", "", c.body.strip(), ""]
    return "\n".join(lines).rstrip() + "\n"
