"""`paperscope model info` and `paperscope model compare`: inspect the configured text encoder."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from paperscope.cli.common import console, out, settings_from

if TYPE_CHECKING:  # onnxruntime and numpy load only for the model commands
    from paperscope.embed import OnnxEncoder

app = typer.Typer(no_args_is_help=True, help="The text encoder (bundled MiniLM or PAPERSCOPE_MODEL).")


def _load(ctx: typer.Context) -> OnnxEncoder:
    from paperscope.embed import ModelError, load_encoder

    try:
        return load_encoder(settings_from(ctx))
    except ModelError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@app.command("info")
def info(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Load the encoder (converting the bundled model on first use) and show what it is, and which
    retrieval profile its searches use ("neutral": none was tuned for it)."""
    from paperscope.index.profiles import profile_for

    started = time.perf_counter()
    encoder = _load(ctx)
    spec = encoder.spec
    facts = {"name": encoder.name, "dim": encoder.dim, "graph": str(spec.onnx_path),
             "tokenizer": str(spec.tokenizer_path), "max_length": spec.max_length,
             "query_max_length": spec.query_max_length, "query_prefix": spec.query_prefix,
             "document_prefix": spec.document_prefix, "retrieval_profile": profile_for(encoder.name).name,
             "load_seconds": round(time.perf_counter() - started, 2)}
    if as_json:
        out.print_json(orjson.dumps(facts).decode())
        return
    for key, value in facts.items():
        out.print(f"{key}: {value}")


@app.command("compare")
def compare(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Query text.")],
    document: Annotated[str, typer.Argument(help="Document text.")],
) -> None:
    """Score one query against one document: pooled cosine and token-level MaxSim."""
    encoder = _load(ctx)
    (q,) = encoder.encode_queries([query])
    (d,) = encoder.encode_documents([document])
    maxsim = float((q.tokens @ d.tokens.T).max(axis=1).sum())
    out.print(f"cosine {float(q.pooled @ d.pooled):.4f}  maxsim {maxsim:.3f} "
              f"(query tokens {q.tokens.shape[0]}, document tokens {d.tokens.shape[0]})")
