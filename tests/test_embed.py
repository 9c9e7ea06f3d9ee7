"""The encoder over a user model directory, exercised with a tiny BERT-shaped ONNX model built in the test
(tests/support/tiny_model.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paperscope.embed import Encoder, ModelError, load_encoder, paper_text
from paperscope.settings import Settings
from tests.support.tiny_model import DIM, tiny_model_dir


@pytest.fixture
def tiny(tmp_path: Path) -> Encoder:
    directory = tiny_model_dir(tmp_path / "tiny", {"name": "tiny-test", "max_length": 12})
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
    directory = tiny_model_dir(tmp_path / "colbert", {"query_prefix": "[Q] ", "document_prefix": ""})
    encoder = load_encoder(Settings(home=tmp_path / "home", model=str(directory)))
    assert encoder.name == "colbert"  # no name in the config: the directory's name
    (query,) = encoder.encode_queries(["protein folding"])
    (doc,) = encoder.encode_documents(["protein folding"])
    assert query.tokens.shape[0] == 5  # [CLS] [Q] protein folding [SEP]
    assert doc.tokens.shape[0] == 2


@pytest.mark.parametrize("missing", ["model.onnx", "tokenizer.json"])
def test_model_directory_lacking_a_file_is_a_clear_error(tmp_path: Path, missing: str) -> None:
    directory = tiny_model_dir(tmp_path / "broken")
    (directory / missing).unlink()
    with pytest.raises(ModelError, match=missing):
        load_encoder(Settings(home=tmp_path / "home", model=str(directory)))


def test_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a directory"):
        load_encoder(Settings(home=tmp_path / "home", model=str(tmp_path / "nowhere")))


def test_graph_without_per_token_output_is_rejected(tmp_path: Path) -> None:
    directory = tiny_model_dir(tmp_path / "pooled-only", per_token=False)
    with pytest.raises(ModelError, match="per-token"):
        load_encoder(Settings(home=tmp_path / "home", model=str(directory)))


def test_corrupt_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    directory = tiny_model_dir(tmp_path / "bad-tok")
    (directory / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModelError, match="tokenizer"):
        load_encoder(Settings(home=tmp_path / "home", model=str(directory)))


def test_paper_text_joins_title_and_abstract() -> None:
    assert paper_text("Attention Is All You Need", "  The dominant\n models ") == \
        "Attention Is All You Need. The dominant models"
    assert paper_text("A title.", "") == "A title"
    assert paper_text("", "Only abstract.") == "Only abstract."
