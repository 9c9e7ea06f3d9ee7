"""Export a trained checkpoint as a paperscope model directory: int8 ONNX + tokenizer + paperscope.json.

The graph has the bundled model's interface (input_ids, attention_mask, token_type_ids ->
last_hidden_state), so `PAPERSCOPE_MODEL=<dir>` loads it through OnnxEncoder unchanged. Every MatMul is
quantised to dynamic int8 with per-channel scales (as paperscope.embed.quantize does for the bundled
model) and the embedding tables to int8 (Gather), which keeps the file under 25 MB.

Usage: python training/export.py --checkpoint run/model.pt --base <MiniLM folder> --out <model dir>
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from model import load_minilm
from onnxruntime.quantization import QuantType, quantize_dynamic
from train import TOKENIZER

NAME = "paperscope-late-minilm-v1"


def export(checkpoint: Path | None, base: Path, out: Path) -> Path:
    model = load_minilm(base)
    if checkpoint is not None:
        model.load_state_dict(torch.load(checkpoint, weights_only=False)["model"])
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102]])
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(fp32),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={
                n: {0: "batch", 1: "sequence"}
                for n in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
            },
        )
        target = out / "model.onnx"
        quantize_dynamic(
            fp32,
            target,
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gather"],
        )
        check(model, fp32, target)
    shutil.copyfile(TOKENIZER, out / "tokenizer.json")
    (out / "paperscope.json").write_text(
        json.dumps({"name": NAME, "max_length": 256, "query_max_length": 64}, indent=1) + "\n"
    )
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    print(f"{target}: {target.stat().st_size:,} bytes, sha256 {digest}")
    return target


def check(model: torch.nn.Module, fp32: Path, int8: Path) -> None:
    """Token-vector cosine of the int8 graph against torch on a fixed sentence (expect > 0.98)."""
    ids = torch.tensor([[101, 2397, 8290, 26384, 2005, 4045, 4981, 2007, 4098, 5332, 2213, 1012, 102]])
    with torch.no_grad():
        ref = model(ids, torch.ones_like(ids), torch.zeros_like(ids))[0].numpy()
    feeds = {
        "input_ids": ids.numpy(),
        "attention_mask": np.ones_like(ids.numpy()),
        "token_type_ids": np.zeros_like(ids.numpy()),
    }
    for path in (fp32, int8):
        got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0][0]
        cos = (got * ref).sum(-1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(ref, axis=-1)
        print(f"{path.name}: token cosine vs torch min {cos.min():.4f} mean {cos.mean():.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, help="model.pt or checkpoint.pt (omit: the base model)")
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    export(args.checkpoint, args.base, args.out)


if __name__ == "__main__":
    main()
