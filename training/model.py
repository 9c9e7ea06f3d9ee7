"""A BERT encoder (MiniLM-L6-H384 shape) in plain torch: loads sentence-transformers safetensors weights.

Written out (~60 lines) instead of importing `transformers`, so the training venv needs only torch,
tokenizers, safetensors and onnx. The forward matches Hugging Face's BertModel (post-LN, GELU-erf).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn


class Layer(nn.Module):
    def __init__(self, dim: int, heads: int, inner: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.attn_out = nn.Linear(dim, dim)
        self.attn_norm = nn.LayerNorm(dim, eps=eps)
        self.inter = nn.Linear(dim, inner)
        self.out = nn.Linear(inner, dim)
        self.out_norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, h, d // h).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d // h) + bias
        att = self.drop(torch.softmax(att, dim=-1))
        ctx = torch.matmul(att, v).transpose(1, 2).reshape(b, n, d)
        x = self.attn_norm(x + self.drop(self.attn_out(ctx)))
        y = self.out(nn.functional.gelu(self.inter(x)))
        return self.out_norm(x + self.drop(y))


class Bert(nn.Module):
    """input_ids, attention_mask, token_type_ids -> last_hidden_state (batch, seq, dim)."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        dim, eps = config["hidden_size"], config["layer_norm_eps"]
        self.word = nn.Embedding(config["vocab_size"], dim)
        self.position = nn.Embedding(config["max_position_embeddings"], dim)
        self.token_type = nn.Embedding(config["type_vocab_size"], dim)
        self.emb_norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(0.1)
        self.layers = nn.ModuleList(
            Layer(dim, config["num_attention_heads"], config["intermediate_size"], eps)
            for _ in range(config["num_hidden_layers"])
        )

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.word(input_ids) + self.position(positions) + self.token_type(token_type_ids)
        x = self.drop(self.emb_norm(x))
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, bias)
        return x


_NAMES = {
    "word": "embeddings.word_embeddings",
    "position": "embeddings.position_embeddings",
    "token_type": "embeddings.token_type_embeddings",
    "emb_norm": "embeddings.LayerNorm",
}
_LAYER = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attn_out": "attention.output.dense",
    "attn_norm": "attention.output.LayerNorm",
    "inter": "intermediate.dense",
    "out": "output.dense",
    "out_norm": "output.LayerNorm",
}


def load_minilm(directory: Path) -> Bert:
    """The sentence-transformers all-MiniLM-L6-v2 folder (config.json + model.safetensors) as a `Bert`."""
    model = Bert(json.loads((directory / "config.json").read_text()))
    source = {k.removeprefix("bert."): v for k, v in load_file(str(directory / "model.safetensors")).items()}
    state = {}
    for name in model.state_dict():
        head, _, rest = name.partition(".")
        if head in _NAMES:
            key = f"{_NAMES[head]}.{rest}"
        else:  # layers.<i>.<part>.<param>
            index, part, param = rest.split(".")
            key = f"encoder.layer.{index}.{_LAYER[part]}.{param}"
        key = key.replace("LayerNorm.weight", "LayerNorm.gamma") if key not in source else key
        key = key.replace("LayerNorm.bias", "LayerNorm.beta") if key not in source else key
        state[name] = source[key]
    model.load_state_dict(state)
    return model
