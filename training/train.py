"""Fine-tune all-MiniLM-L6-v2 for late interaction (MaxSim) on CPU, with checkpoints.

Loss per batch of B triples (query, positive, BM25 negative): cross-entropy over the 2B documents of the
batch of (a) the ColBERT MaxSim score - sum over query tokens of the best cosine over document tokens,
with documents' special and punctuation-only tokens dropped exactly as paperscope's OnnxEncoder drops
them - plus (b) `--pooled-weight` x the same over mean-pooled cosine x 20 (the sentence-transformers
objective MiniLM was trained with), so that dense and hybrid search keep working with the same vectors.

Usage: python training/train.py --pairs pairs.jsonl --out run/ --steps 900 [--minutes 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import unicodedata
from pathlib import Path

import torch
from model import Bert, load_minilm
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER = ROOT / "src" / "paperscope" / "embed" / "minilm" / "tokenizer.json"


def skip_table(tokenizer: Tokenizer) -> torch.Tensor:
    """True for ids paperscope drops from document token vectors (specials, punctuation/symbol-only)."""
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    table = torch.zeros(max(vocab.values()) + 1, dtype=torch.bool)
    for token, i in vocab.items():
        t = token[2:] if token.startswith("##") else token
        table[i] = bool(t) and all(unicodedata.category(ch)[0] in "PS" for ch in t)
    for i, added in tokenizer.get_added_tokens_decoder().items():
        if added.special:
            table[i] = True
    return table


def batch_tensors(
    tokenizer: Tokenizer, texts: list[str], max_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    tokenizer.enable_truncation(max_length=max_length)
    encodings = tokenizer.encode_batch(texts)
    longest = max(len(e.ids) for e in encodings)
    ids = torch.zeros((len(texts), longest), dtype=torch.long)
    mask = torch.zeros((len(texts), longest), dtype=torch.long)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)] = torch.tensor(e.ids)
        mask[row, : len(e.ids)] = 1
    return ids, mask


def encode(model: Bert, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(token vectors L2-normalised, pooled vector L2-normalised) as OnnxEncoder makes them."""
    states = model(ids, mask, torch.zeros_like(ids))
    m = mask.unsqueeze(-1).to(states.dtype)
    pooled = (states * m).sum(1) / m.sum(1)
    return torch.nn.functional.normalize(states, dim=-1), torch.nn.functional.normalize(pooled, dim=-1)


def maxsim(q: torch.Tensor, q_mask: torch.Tensor, d: torch.Tensor, d_keep: torch.Tensor) -> torch.Tensor:
    """(B queries, N docs) ColBERT scores."""
    sim = torch.einsum("qtd,nsd->qnts", q, d)
    sim = sim.masked_fill(~d_keep[None, :, None, :], -1e4).amax(-1)
    return (sim * q_mask[:, None, :].to(sim.dtype)).sum(-1)


def save(path: Path, **state: object) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument(
        "--base", type=Path, required=True, help="all-MiniLM-L6-v2 folder (model.safetensors)"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--warmup", type=float, default=0.06)
    parser.add_argument("--query-length", type=int, default=32)
    parser.add_argument("--doc-length", type=int, default=128)
    parser.add_argument("--pooled-weight", type=float, default=1.0)
    parser.add_argument("--checkpoint-every", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=0, help="stop (and save) after this many minutes")
    parser.add_argument(
        "--stop-step",
        type=int,
        default=0,
        help="stop (and save) at this step, schedule still set by --steps: replays a run that "
        "--minutes cut short",
    )
    parser.add_argument(
        "--arxiv-triples",
        type=int,
        default=0,
        help="use every SciFact-train triple once plus this many arXiv triples (0: the whole file)",
    )
    parser.add_argument(
        "--freeze-embeddings",
        action="store_true",
        help="keep the embedding tables fixed (saves the optimizer's 12M-row update per step)",
    )
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    triples = [json.loads(line) for line in args.pairs.open()]
    if args.arxiv_triples:
        seen: set[tuple[str, str]] = set()
        scifact = []
        for t in triples:
            if t["kind"] == "scifact-train" and (t["query"], t["positive"]) not in seen:
                seen.add((t["query"], t["positive"]))
                scifact.append(t)
        triples = scifact + [t for t in triples if t["kind"] != "scifact-train"][: args.arxiv_triples]
        random.Random(args.seed).shuffle(triples)
    print(f"{len(triples)} triples; {args.steps * args.batch} used", flush=True)
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    tokenizer.no_padding()
    skip = skip_table(tokenizer)
    model = load_minilm(args.base)
    if args.freeze_embeddings:
        for table in (model.word, model.position, model.token_type):
            table.weight.requires_grad_(False)
    optim = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01
    )
    warm = max(1, int(args.steps * args.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warm, max(0.0, (args.steps - s) / max(1, args.steps - warm)))
    )
    step = 0
    ckpt = args.out / "checkpoint.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["rng"])
        step = int(state["step"])
        print(f"resumed at step {step}", flush=True)
    model.train()
    started = time.time()
    labels = torch.arange(args.batch)
    while step < args.steps:
        lo = (step * args.batch) % (len(triples) - args.batch)
        chunk = triples[lo : lo + args.batch]
        q_ids, q_mask = batch_tensors(tokenizer, [t["query"] for t in chunk], args.query_length)
        d_ids, d_mask = batch_tensors(
            tokenizer, [t["positive"] for t in chunk] + [t["negative"] for t in chunk], args.doc_length
        )
        q_tok, q_pool = encode(model, q_ids, q_mask)
        d_tok, d_pool = encode(model, d_ids, d_mask)
        d_keep = d_mask.bool() & ~skip[d_ids]
        late = torch.nn.functional.cross_entropy(maxsim(q_tok, q_mask, d_tok, d_keep), labels[: len(chunk)])
        dense = torch.nn.functional.cross_entropy(q_pool @ d_pool.T * 20.0, labels[: len(chunk)])
        loss = late + args.pooled_weight * dense
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        sched.step()
        step += 1
        elapsed = time.time() - started
        if step % 10 == 0:
            print(
                f"step {step} late {late.item():.4f} dense {dense.item():.4f} "
                f"lr {sched.get_last_lr()[0]:.2e} "
                f"{elapsed:.0f}s {step * args.batch / elapsed:.2f} pairs/s",
                flush=True,
            )
        out_of_time = bool(args.minutes and elapsed > args.minutes * 60) or step == args.stop_step
        if step % args.checkpoint_every == 0 or step == args.steps or out_of_time:
            save(
                ckpt,
                model=model.state_dict(),
                optim=optim.state_dict(),
                sched=sched.state_dict(),
                rng=torch.get_rng_state(),
                step=step,
            )
        if out_of_time:
            print(f"stopped by --minutes at step {step}", flush=True)
            break
    save(args.out / "model.pt", model=model.state_dict(), step=step, args=vars(args))
    print(f"done: {step} steps, {step * args.batch} triples in {time.time() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
