"""Retrieval profiles: the defaults that were tuned on one encoder, kept under that encoder's name.

Fusion weights, the RRF constant, candidate depths and the relevance calibration were all fitted on
SciFact *train* with the bundled all-MiniLM-L6-v2 (benchmarks/search_quality.py, benchmarks/RESULTS.md).
They describe how that model's cosines and token similarities are spread, so they say nothing about
another model: a model directory (`PAPERSCOPE_MODEL`) without a profile of its own gets `NEUTRAL`
(equal-weight rank fusion with the usual k = 60, no calibration, hence no relevance threshold) and every
vector search says so in its notes (docs/decisions/retrieval-profiles.md).

The FDE shape sits here too: the index side builds new index sets with the profile's shape
(`index/sync.py`), and the query side reads the shape back from the index manifest, never from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from paperscope.embed.bundled import BUNDLED_NAME, LATE_MINILM_NAME

Fusion = Literal["rrf", "zscore"]


def _frozen(**weights: float) -> MappingProxyType[str, float]:
    return MappingProxyType(dict(weights))


@dataclass(frozen=True)
class FdeShape:
    """MUVERA's shape for a new index set (IndexSpec's FDE fields): repetitions x 2^k_sim buckets x
    d_proj dimensions, optionally count-sketched to `final_dim`."""

    fde_r_reps: int = 32
    fde_k_sim: int = 3
    fde_d_proj: int = 8
    fde_final_dim: int | None = None
    fde_seed: int = 42

    def as_spec_fields(self) -> dict[str, int | None]:
        return {"fde_r_reps": self.fde_r_reps, "fde_k_sim": self.fde_k_sim, "fde_d_proj": self.fde_d_proj,
                "fde_final_dim": self.fde_final_dim, "fde_seed": self.fde_seed}


@dataclass(frozen=True)
class RetrievalProfile:
    """What one encoder's searches are tuned with (see the module docstring)."""

    name: str
    # False for the neutral defaults: searches then carry a note saying nothing was tuned for the model.
    tuned: bool
    fusion: Fusion = "rrf"
    weights: MappingProxyType[str, float] = field(
        default_factory=lambda: _frozen(bm25=1.0, dense=1.0, late=1.0))
    rrf_k: int = 60
    zscore_weights: MappingProxyType[str, float] = field(
        default_factory=lambda: _frozen(bm25=1.0, dense=1.0, late=1.0))
    fusion_depth: int = 100
    late_candidates: int = 800
    hybrid_late_candidates: int = 50
    # (slope, intercept) of P(relevant | pooled cosine) = 1 / (1 + exp(-(slope * cosine + intercept)));
    # None: no calibration, so a relevance threshold is ignored (with a note).
    calibration: tuple[float, float] | None = None
    fde: FdeShape = field(default_factory=FdeShape)


# All fitted on SciFact train with the bundled model; the reasons for each number are beside the
# SearchConfig fields that take them (search/engine.py) and in benchmarks/RESULTS.md.
MINILM = RetrievalProfile(
    name=BUNDLED_NAME,
    tuned=True,
    fusion="rrf",
    weights=_frozen(bm25=2.0, dense=1.0, late=1.0),
    rrf_k=10,
    zscore_weights=_frozen(bm25=1.0, dense=0.75, late=0.25),
    fusion_depth=100,
    late_candidates=800,
    hybrid_late_candidates=50,
    # 16,180 (query, top-20 dense hit) pairs, 773 relevant; P(relevant) = 0.5 at cosine 0.74.
    calibration=(14.136, -10.457),
    fde=FdeShape(),
)

NEUTRAL = RetrievalProfile(name="neutral", tuned=False)

# The MaxSim-trained MiniLM that ships as PAPERSCOPE_MODEL=late-minilm was measured on SciFact test with
# MiniLM's fusion and depths (docs/decisions/own-late-interaction-encoder.md), so it keeps them. Training
# moved its pooled cosines, so MiniLM's relevance calibration does not carry over: no threshold.
LATE_MINILM = replace(MINILM, name=LATE_MINILM_NAME, calibration=None)

# The bundled model under both names it can run as (the dynamic-int8 graph, and the shipped weights).
PROFILES: dict[str, RetrievalProfile] = {BUNDLED_NAME: MINILM, BUNDLED_NAME + "-weights": MINILM,
                                         LATE_MINILM_NAME: LATE_MINILM}


def profile_for(model_name: str) -> RetrievalProfile:
    """The tuned profile of `model_name`, or the neutral defaults for a model nobody tuned."""
    return PROFILES.get(model_name, NEUTRAL)


def untuned_note(model_name: str) -> str:
    """What a search with the neutral defaults tells its reader."""
    return (f"model {model_name!r} has no tuned retrieval profile: hybrid uses neutral defaults "
            "(equal-weight rank fusion) and no relevance threshold is calibrated")
