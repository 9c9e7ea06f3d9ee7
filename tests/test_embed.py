"""The encoder over a user model directory, exercised with a tiny BERT-shaped ONNX model built here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from paperscope.embed import Encoder, ModelError, load_encoder, paper_text
from paperscope.settings import Settings

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[Q]", "hello", "world", "graph", "neural", "networks",
         "protein", "folding", ",", "!", ".", "(", ")"]
DIM = 8


def _tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[Q]"])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return tokenizer


def _graph(per_token: bool = True) -> onnx.ModelProto:
    """hidden = embedding[ids] + 0.5 * masked mean of the embeddings: contextual, and blind to padding."""
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


def _model_dir(path: Path, config: dict[str, object] | None = None, per_token: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    onnx.save(_graph(per_token), str(path / "model.onnx"))
    _tokenizer().save(str(path / "tokenizer.json"))
    if config is not None:
        (path / "paperscope.json").write_text(json.dumps(config))
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> Encoder:
    directory = _model_dir(tmp_path / "tiny", {"name": "tiny-test", "max_length": 12})
    return load_encoder(Settings(home=tmp_path / "home", model=str(directory)))


def test_user_model_directory_is_loaded_with_its_config(tiny: Encoder) -> None:
    assert isinstance(tiny, Encoder)
    assert (tiny.name, tiny.dim) == ("tiny-test", DIM)


def test_vectors_have_the_promised_shapes_and_unit_length(tiny: Encoder) -> None:
    (doc,) = tiny.encode_documents(["graph neural networks"])
    (query,) = tiny.encode_queries(["graph neural networks"])
    assert doc.pooled.shape == (DIM,) and doc.pooled.dtype == np.float32
    assert doc.tokens.shape == (3, DIM) and query.tokens.shape == (5, DIM)  # query keeps [CLS] and [SEP]
    for vectors in (doc.pooled[None], doc.tokens, query.pooled[None], query.tokens):
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_document_side_drops_special_and_punctuation_tokens(tiny: Encoder) -> None:
    text = "hello , world ! ( protein )"
    (doc,) = tiny.encode_documents([text])
    (query,) = tiny.encode_queries([text])
    # Query rows: [CLS] hello , world ! ( protein ) [SEP] -> the document keeps hello, world, protein.
    assert query.tokens.shape[0] == 9
    np.testing.assert_allclose(doc.tokens, query.tokens[[1, 3, 6]], atol=1e-6)
    # Pooling still sees every real token, as sentence-transformers pools.
    np.testing.assert_allclose(doc.pooled, query.pooled, atol=1e-6)


def test_text_of_only_punctuation_still_has_token_vectors(tiny: Encoder) -> None:
    (doc,) = tiny.encode_documents(["! . !"])
    assert doc.tokens.shape[0] > 0
    assert np.isfinite(doc.tokens).all()


def test_batched_encoding_matches_one_at_a_time_and_keeps_order(tiny: Encoder) -> None:
    texts = ["protein folding", "hello world , graph neural networks !", "world", "neural protein graph"]
    batched = tiny.encode_documents(texts, batch_size=3)
    for text, got in zip(texts, batched, strict=True):
        (alone,) = tiny.encode_documents([text], batch_size=1)
        np.testing.assert_allclose(got.pooled, alone.pooled, atol=1e-6)
        np.testing.assert_allclose(got.tokens, alone.tokens, atol=1e-6)
    assert tiny.encode_documents([], batch_size=2) == []


def test_encoding_is_deterministic(tiny: Encoder) -> None:
    first = tiny.encode_queries(["graph neural networks for protein folding"])[0]
    again = tiny.encode_queries(["graph neural networks for protein folding"])[0]
    np.testing.assert_array_equal(first.tokens, again.tokens)
    np.testing.assert_array_equal(first.pooled, again.pooled)


def test_documents_are_truncated_to_max_length(tiny: Encoder) -> None:
    (doc,) = tiny.encode_documents(["hello world " * 50])
    assert doc.tokens.shape[0] == 12 - 2  # max_length minus [CLS] and [SEP]


def test_query_prefix_from_config_marks_the_query(tmp_path: Path) -> None:
    directory = _model_dir(tmp_path / "colbert", {"query_prefix": "[Q] ", "document_prefix": ""})
    encoder = load_encoder(Settings(home=tmp_path / "home", model=str(directory)))
    assert encoder.name == "colbert"  # no name in the config: the directory's name
    (query,) = encoder.encode_queries(["protein folding"])
    (doc,) = encoder.encode_documents(["protein folding"])
    assert query.tokens.shape[0] == 5  # [CLS] [Q] protein folding [SEP]
    assert doc.tokens.shape[0] == 2


@pytest.mark.parametrize("missing", ["model.onnx", "tokenizer.json"])
def test_model_directory_lacking_a_file_is_a_clear_error(tmp_path: Path, missing: str) -> None:
    directory = _model_dir(tmp_path / "broken")
    (directory / missing).unlink()
    with pytest.raises(ModelError, match=missing):
        load_encoder(Settings(home=tmp_path / "home", model=str(directory)))


def test_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a directory"):
        load_encoder(Settings(home=tmp_path / "home", model=str(tmp_path / "nowhere")))


def test_graph_without_per_token_output_is_rejected(tmp_path: Path) -> None:
    directory = _model_dir(tmp_path / "pooled-only", per_token=False)
    with pytest.raises(ModelError, match="per-token"):
        load_encoder(Settings(home=tmp_path / "home", model=str(directory)))


def test_corrupt_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    directory = _model_dir(tmp_path / "bad-tok")
    (directory / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModelError, match="tokenizer"):
        load_encoder(Settings(home=tmp_path / "home", model=str(directory)))


def test_paper_text_joins_title_and_abstract() -> None:
    assert paper_text("Attention Is All You Need", "  The dominant\n models ") == \
        "Attention Is All You Need. The dominant models"
    assert paper_text("A title.", "") == "A title"
    assert paper_text("", "Only abstract.") == "Only abstract."
