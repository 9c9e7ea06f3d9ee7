"""The packaged late-interaction MiniLM (issue #21): selectable by name, offline, same interface as the
bundled encoder, and it ranks related text first by MaxSim and by pooled cosine."""

from __future__ import annotations

from pathlib import Path

import pytest

from paperscope.embed import Encoded, OnnxEncoder, encoder_identity, load_encoder, paper_text
from paperscope.embed.bundled import PACKAGED_MODELS, model_directory
from paperscope.settings import Settings


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> OnnxEncoder:
    return load_encoder(Settings(home=tmp_path_factory.mktemp("late-home"), model="late-minilm"))


def maxsim(query: Encoded, doc: Encoded) -> float:
    return float((query.tokens @ doc.tokens.T).max(axis=1).sum())


def test_packaged_model_ships_under_25_mb() -> None:
    onnx = PACKAGED_MODELS["late-minilm"] / "model.onnx"
    assert onnx.is_file()
    assert onnx.stat().st_size < 25_000_000


def test_selected_by_name_with_its_own_identity(encoder: OnnxEncoder, tmp_path: Path) -> None:
    assert (encoder.name, encoder.dim) == ("paperscope-late-minilm-v1", 384)
    bundled = encoder_identity(Settings(home=tmp_path))
    assert encoder.identity is not None and encoder.identity != bundled  # vectors never mix


def test_a_path_is_still_a_path(tmp_path: Path) -> None:
    assert model_directory(str(tmp_path)) == tmp_path
    assert model_directory("late-minilm") == PACKAGED_MODELS["late-minilm"]


def test_related_paper_ranks_first(encoder: OnnxEncoder) -> None:
    related, unrelated = encoder.encode_documents([
        paper_text("Protein structure prediction with deep learning",
                   "We predict the three-dimensional structure of proteins from their amino acid sequence "
                   "using attention-based neural networks, reaching atomic accuracy on most targets."),
        paper_text("A survey of monetary policy", "Central banks set interest rates to steer inflation."),
    ])
    (query,) = encoder.encode_queries(["neural networks predict how proteins fold"])
    assert maxsim(query, related) > maxsim(query, unrelated) + 1.0
    assert float(query.pooled @ related.pooled) > float(query.pooled @ unrelated.pooled) + 0.2


def test_searches_keep_minilms_fusion_but_not_its_calibration(encoder: OnnxEncoder) -> None:
    # Measured on SciFact test with MiniLM's fusion and depths, so it keeps them (no "untuned" note);
    # its cosines moved in training, so MiniLM's relevance calibration is not applied to it.
    from paperscope.index.profiles import MINILM, profile_for

    profile = profile_for(encoder.name)
    assert profile.tuned and profile.calibration is None
    assert (profile.weights, profile.rrf_k, profile.late_candidates) == (
        MINILM.weights, MINILM.rrf_k, MINILM.late_candidates)
