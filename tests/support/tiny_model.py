"""A tiny BERT-shaped ONNX model and its tokenizer, built in a test's folder as a user model directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from tokenizers import Tokenizer, models, pre_tokenizers, processors

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[Q]", "hello", "world", "graph", "neural", "networks",
         "protein", "folding", ",", "!", ".", "(", ")"]
DIM = 8


def tiny_tokenizer() -> Tokenizer:
    """A word-level tokenizer over VOCAB that wraps a text in [CLS] ... [SEP], as BERT's does."""
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[Q]"])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return tokenizer


def tiny_graph(per_token: bool = True) -> onnx.ModelProto:
    """hidden = embedding[ids] + 0.5 * masked mean of the embeddings: contextual, and blind to padding.
    Without `per_token`, the graph's only output is pooled (a model paperscope must refuse)."""
    weights = np.random.default_rng(7).normal(size=(len(VOCAB), DIM)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["tok"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["tok", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["total"], keepdims=1),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=1),
        helper.make_node("Div", ["total", "count"], ["context"]),
        helper.make_node("Mul", ["context", "half"], ["scaled"]),
        helper.make_node("Add", ["tok", "scaled"], ["last_hidden_state"]),
    ]
    output_shape: list[str | int] = ["batch", "seq", DIM]
    if not per_token:
        nodes.append(helper.make_node("ReduceSum", ["last_hidden_state", "axis1"], ["pooled"], keepdims=0))
        output_shape = ["batch", DIM]
    graph = helper.make_graph(
        nodes, "tiny-bert",
        inputs=[helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
                for n in ("input_ids", "attention_mask", "token_type_ids")],
        outputs=[helper.make_tensor_value_info("last_hidden_state" if per_token else "pooled",
                                               TensorProto.FLOAT, output_shape)],
        initializer=[helper.make_tensor("emb", TensorProto.FLOAT, weights.shape, weights.flatten()),
                     helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
                     helper.make_tensor("axis2", TensorProto.INT64, [1], [2]),
                     helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def tiny_model_dir(path: Path, config: dict[str, object] | None = None, per_token: bool = True) -> Path:
    """A user model directory at `path`: model.onnx, tokenizer.json and, given `config`, paperscope.json."""
    path.mkdir(parents=True, exist_ok=True)
    onnx.save(tiny_graph(per_token), str(path / "model.onnx"))
    tiny_tokenizer().save(str(path / "tokenizer.json"))
    if config is not None:
        (path / "paperscope.json").write_text(json.dumps(config))
    return path
