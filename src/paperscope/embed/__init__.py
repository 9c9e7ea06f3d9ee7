"""paperscope.embed: text -> vectors (pooled + per token) with an ONNX transformer, no torch at run time.

    from paperscope.embed import load_encoder, paper_text
    encoder = load_encoder(settings)
    docs = encoder.encode_documents([paper_text(p.title, p.abstract) for p in papers])
    query = encoder.encode_queries(["late interaction retrieval"])[0]
"""

from paperscope.embed.bundled import encoder_identity, load_encoder
from paperscope.embed.onnx_model import ModelError, ModelSpec, OnnxEncoder
from paperscope.embed.types import Encoded, Encoder, EncoderIdentity, paper_text

__all__ = ["Encoded", "Encoder", "EncoderIdentity", "ModelError", "ModelSpec", "OnnxEncoder",
           "encoder_identity", "load_encoder", "paper_text"]
