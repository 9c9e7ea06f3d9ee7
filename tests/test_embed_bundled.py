"""The bundled all-MiniLM-L6-v2 (int8): loads offline, converts once, and ranks related text higher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paperscope.embed import Encoded, OnnxEncoder, load_encoder, paper_text
from paperscope.embed.bundled import bundled_spec
from paperscope.settings import Settings

TITLE = "Protein structure prediction with deep learning"
# These tests are about the conversion itself: it runs here in the module's own home, not the session's.
pytestmark = pytest.mark.own_model_conversion

ABSTRACT = ("We predict the three-dimensional structure of proteins from their amino acid sequence "
            "using attention-based neural networks, reaching atomic accuracy on most targets.")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embed-home")


@pytest.fixture(scope="module")
def encoder(home: Path) -> OnnxEncoder:
    return load_encoder(Settings(home=home))


def maxsim(query: Encoded, doc: Encoded) -> float:
    return float((query.tokens @ doc.tokens.T).max(axis=1).sum())


def test_bundled_encoder_identity(encoder: OnnxEncoder) -> None:
    assert (encoder.name, encoder.dim) == ("all-MiniLM-L6-v2-int8", 384)


def test_related_text_scores_higher_than_unrelated(encoder: OnnxEncoder) -> None:
    related, unrelated = encoder.encode_documents([
        paper_text(TITLE, ABSTRACT),
        paper_text("A survey of monetary policy", "Central banks set interest rates to steer inflation."),
    ])
    (query,) = encoder.encode_queries(["protein folding neural network"])
    assert float(query.pooled @ related.pooled) > float(query.pooled @ unrelated.pooled) + 0.2
    assert maxsim(query, related) > maxsim(query, unrelated) + 1.0


def test_document_tokens_drop_punctuation_and_specials(encoder: OnnxEncoder) -> None:
    (doc,) = encoder.encode_documents(["Hello, world!"])
    (query,) = encoder.encode_queries(["Hello, world!"])
    assert doc.tokens.shape == (2, 384)  # hello world
    assert query.tokens.shape == (6, 384)  # [CLS] hello , world ! [SEP]
    np.testing.assert_allclose(np.linalg.norm(doc.tokens, axis=1), 1.0, rtol=1e-5)


def test_batches_of_mixed_lengths_match_single_encoding(encoder: OnnxEncoder) -> None:
    # Dynamic int8 quantises activations per batch, so equal-within-rounding is the promise, not bit-equal.
    texts = [paper_text(TITLE, ABSTRACT), "short text", "graph neural networks for molecules " * 8]
    batched = encoder.encode_documents(texts, batch_size=8)
    for text, got in zip(texts, batched, strict=True):
        (alone,) = encoder.encode_documents([text])
        assert float(got.pooled @ alone.pooled) > 0.985
        assert got.tokens.shape == alone.tokens.shape
        assert float(np.mean(np.sum(got.tokens * alone.tokens, axis=1))) > 0.97


def test_conversion_is_cached_under_home(encoder: OnnxEncoder, home: Path) -> None:
    converted = list((home / "models").glob("*.onnx"))
    assert [p.resolve() for p in converted] == [encoder.spec.onnx_path.resolve()]
    mtime = converted[0].stat().st_mtime_ns
    load_encoder(Settings(home=home))
    assert converted[0].stat().st_mtime_ns == mtime
    assert not [p for p in (home / "models").iterdir() if p.name.startswith(".")]


def test_int8_matrix_products_keep_the_shipped_model_quality(encoder: OnnxEncoder, home: Path) -> None:
    shipped = OnnxEncoder(bundled_spec(Settings(home=home), dynamic=False))
    text = paper_text(TITLE, ABSTRACT)
    (ours,) = encoder.encode_documents([text])
    (reference,) = shipped.encode_documents([text])
    assert float(ours.pooled @ reference.pooled) > 0.98
    assert float(np.mean(np.sum(ours.tokens * reference.tokens, axis=1))) > 0.95
