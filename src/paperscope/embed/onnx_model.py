"""An `Encoder` over any BERT-like ONNX graph + a Hugging Face `tokenizer.json` (onnxruntime, no torch)."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from paperscope.embed.types import Encoded, EncoderIdentity

# Markers tokenizers put on word pieces; stripped before deciding whether a token is punctuation-only.
_PIECE_MARKERS = ("##", "\u0120", "\u2581")


class ModelError(ValueError):
    """A model directory or file that cannot be used as an encoder."""


@dataclass(frozen=True)
class ModelSpec:
    """Where an encoder's files are and how texts are fed to it."""

    onnx_path: Path
    tokenizer_path: Path
    name: str
    max_length: int = 256
    query_max_length: int = 64
    # ColBERT-style models mark the side with a text prefix (e.g. "[Q] " / "[D] ").
    query_prefix: str = ""
    document_prefix: str = ""
    output_name: str = ""  # empty: "last_hidden_state" if the graph has it, else its first output


def available_cores() -> int:
    """CPU cores this process may run on (affinity-aware, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _is_punctuation_only(token: str) -> bool:
    for marker in _PIECE_MARKERS:
        if token.startswith(marker):
            token = token[len(marker):]
    # ColBERT skips string.punctuation, which includes symbols such as "+" and "$"; P* and S* cover both.
    return bool(token) and all(unicodedata.category(ch)[0] in "PS" for ch in token)


class OnnxEncoder:
    """Encodes texts with an ONNX transformer whose output is the per-token hidden states (batch, seq, dim).

    Texts are tokenised, sorted by length and batched so that each batch pads only to its own longest
    text (padding is wasted compute); results come back in input order.
    """

    def __init__(self, spec: ModelSpec, threads: int | None = None) -> None:
        for path in (spec.onnx_path, spec.tokenizer_path):
            if not path.is_file():
                raise ModelError(f"model file missing: {path}")
        self.spec = spec
        self.name = spec.name
        # Set by `load_encoder`: what the stored embeddings record as their maker.
        self.identity: EncoderIdentity | None = None
        # One tokenizer per side, each with its own truncation, so concurrent callers never race on it.
        self._tokenizer = _read_tokenizer(spec.tokenizer_path, spec.max_length)
        self._query_tokenizer = _read_tokenizer(spec.tokenizer_path, spec.query_max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(
                str(spec.onnx_path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types per failure kind
            raise ModelError(f"cannot load ONNX graph {spec.onnx_path}: {exc}") from exc
        self._input_types = {i.name: i.type for i in self._session.get_inputs()}
        if "input_ids" not in self._input_types:
            raise ModelError(f"{spec.onnx_path} has no 'input_ids' input: {sorted(self._input_types)}")
        outputs = {o.name: o for o in self._session.get_outputs()}
        out_name = spec.output_name or ("last_hidden_state" if "last_hidden_state" in outputs
                                        else next(iter(outputs)))
        if out_name not in outputs:
            raise ModelError(f"{spec.onnx_path} has no output {out_name!r}: {sorted(outputs)}")
        if len(outputs[out_name].shape) != 3:
            raise ModelError(f"output {out_name!r} must be per-token (batch, seq, dim), "
                             f"got shape {outputs[out_name].shape}")
        self._output = out_name
        self._skip_on_document = self._document_skip_table()
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        last = outputs[out_name].shape[-1]
        self.dim = last if isinstance(last, int) else int(self._run([[self._pad_id]]).shape[-1])

    def _document_skip_table(self) -> np.ndarray:
        """A bool per vocabulary id: True for special and punctuation-only tokens (dropped on documents)."""
        vocab = self._tokenizer.get_vocab(with_added_tokens=True)
        table = np.zeros(max(vocab.values(), default=0) + 1, dtype=bool)
        for token, token_id in vocab.items():
            table[token_id] = _is_punctuation_only(token)
        for token_id, added in self._tokenizer.get_added_tokens_decoder().items():
            if added.special:
                table[token_id] = True
        return table

    def encode_documents(self, texts: Sequence[str], batch_size: int = 32) -> list[Encoded]:
        """Encode documents; `tokens` drops padding, special and punctuation-only tokens."""
        return self._encode(texts, batch_size, is_query=False)

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> list[Encoded]:
        """Encode queries; `tokens` keeps every non-padding token (specials included)."""
        return self._encode(texts, batch_size, is_query=True)

    def _tokenize(self, texts: Sequence[str], is_query: bool) -> list[Encoding]:
        prefix = self.spec.query_prefix if is_query else self.spec.document_prefix
        tokenizer = self._query_tokenizer if is_query else self._tokenizer
        return tokenizer.encode_batch([prefix + text for text in texts])

    def _encode(self, texts: Sequence[str], batch_size: int, is_query: bool) -> list[Encoded]:
        if isinstance(texts, str):
            raise TypeError("pass a sequence of texts, not a single string")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        encodings = self._tokenize(texts, is_query)
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids), reverse=True)
        results: list[Encoded | None] = [None] * len(encodings)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            ids = [encodings[i].ids for i in chunk]
            states = self._run(ids)
            for row, i in enumerate(chunk):
                results[i] = self._vectors(states[row, :len(ids[row])], encodings[i], is_query)
        return [r for r in results if r is not None]

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        """Hidden states (batch, longest, dim) for token id lists padded to the longest."""
        longest = max(len(x) for x in ids)
        input_ids = np.full((len(ids), longest), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), longest), dtype=np.int64)
        for row, seq in enumerate(ids):
            input_ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        feeds = {name: (value.astype(np.int32) if self._input_types[name] == "tensor(int32)" else value)
                 for name, value in feeds.items() if name in self._input_types}
        (states,) = self._session.run([self._output], feeds)
        return np.asarray(states, dtype=np.float32)

    def _vectors(self, states: np.ndarray, encoding: Encoding, is_query: bool) -> Encoded:
        """Pool and select token rows for one text; `states` holds only its real (unpadded) tokens."""
        pooled = _l2_normalise(states.mean(axis=0))
        if is_query:
            kept = states
        else:
            ids = np.asarray(encoding.ids)
            skip = self._skip_on_document[np.minimum(ids, len(self._skip_on_document) - 1)]
            skip |= np.asarray(encoding.special_tokens_mask, dtype=bool)
            # A text of only punctuation would otherwise have no token vectors at all.
            kept = states[~skip] if not skip.all() else states
        return Encoded(pooled=pooled, tokens=_l2_normalise(kept))


def _read_tokenizer(path: Path, max_length: int) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on malformed JSON
        raise ModelError(f"cannot read tokenizer {path}: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)
