"""The vector indexes of one installation, opened together: what search, similar papers and "for you" read.

Under `settings.index_dir`:
  vectors/pooled.usearch   HNSW over each paper's pooled (mean) vector              (dense mode)
  vectors/fde.usearch      HNSW over each paper's MUVERA fixed-dimensional encoding (late-mode candidates)
  vectors/tokens/          the per-token vectors, compressed                        (exact MaxSim)
  vectors/manifest.json    what was built (model row, codec, FDE shape) and up to which store `seq`
  lexical/                 the BM25 index (index/lexical.py), with its own checkpoint

Every file here is a cache of the store (`store/embeddings.py`), brought up to date by `index/sync.py`
without the model. A rebuild is written beside `vectors/` and swapped in by renaming, so readers see
either the old set or the new one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from paperscope.files import write_atomically
from paperscope.index.ann import AnnIndex
from paperscope.index.fde import FDE, FDEConfig
from paperscope.index.token_codec import TokenCodec
from paperscope.index.tokens import TokenStore

MANIFEST = "manifest.json"
VECTORS = "vectors"


@dataclass(frozen=True)
class IndexSpec:
    """The shape of an index set; stored in the manifest so readers build queries the same way.

    FDE: 32 repetitions x 2^3 buckets x 8 dims = 2,048 dims, stored as int8, so the FDE index payload
    is 2 KB per paper. A natively small FDE needs far fewer candidates than a 10,240-d one
    count-sketched down to the same size (benchmarks/RESULTS.md, MUVERA fidelity: 105 vs 269 for 90%
    of the exact MaxSim top-10).
    """

    model: str
    dim: int
    fde_r_reps: int = 32
    fde_k_sim: int = 3
    fde_d_proj: int = 8
    fde_final_dim: int | None = None
    fde_seed: int = 42
    dtype: str = "f16"
    fde_dtype: str = "i8"
    # Stored tokens for the MaxSim re-rank: one k-means mean per two tokens halves the rows read per query
    # (SciFact test: hybrid nDCG@10 unchanged, late -0.002; benchmarks/RESULTS.md, token pooling). Part of
    # the stored embeddings' spec: changing it means encoding again.
    token_pool_factor: int = 2

    def fde_config(self) -> FDEConfig:
        return FDEConfig(dim=self.dim, r_reps=self.fde_r_reps, k_sim=self.fde_k_sim, d_proj=self.fde_d_proj,
                         final_dim=self.fde_final_dim, seed=self.fde_seed)


@dataclass(frozen=True)
class IndexLayout:
    """Where each index of one installation lives (`root` is `settings.index_dir`)."""

    root: Path

    @property
    def vectors(self) -> Path:
        return self.root / VECTORS

    @property
    def pooled(self) -> Path:
        return self.vectors / "pooled.usearch"

    @property
    def fde(self) -> Path:
        return self.vectors / "fde.usearch"

    @property
    def tokens(self) -> Path:
        return self.vectors / "tokens"

    @property
    def manifest(self) -> Path:
        return self.vectors / MANIFEST

    @property
    def lexical(self) -> Path:
        return self.root / "lexical"


@dataclass
class Manifest:
    """What an index set holds: its spec, the store model and codec it was built from, the highest store
    `seq` it has seen and how many papers it holds."""

    spec: IndexSpec
    last_seq: int = 0
    count: int = 0
    model_id: int | None = None
    codec: str | None = None

    @classmethod
    def read(cls, path: Path) -> Manifest | None:
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        # Index sets written before token pooling existed keep every token.
        data["spec"].setdefault("token_pool_factor", 1)
        # Index sets written before embeddings were stored know no model row: a sync replaces them.
        return cls(spec=IndexSpec(**data["spec"]), last_seq=int(data.get("last_seq", 0)),
                   count=int(data["count"]), model_id=data.get("model_id"), codec=data.get("codec"))

    def write(self, path: Path) -> None:
        write_atomically(path, json.dumps({"spec": asdict(self.spec), "last_seq": self.last_seq,
                                           "count": self.count, "model_id": self.model_id,
                                           "codec": self.codec}, indent=1))


@dataclass
class IndexSet:
    """The three vector indexes, opened together, plus the FDE encoder that feeds one of them."""

    layout: IndexLayout
    manifest: Manifest
    pooled: AnnIndex
    fde_ann: AnnIndex
    tokens: TokenStore
    fde: FDE
    # The FDE folded into the token codec's basis (built on first use).
    _fde_of_codes: tuple[TokenCodec, FDE | None] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, root: Path, view: bool = False) -> IndexSet | None:
        """Open the index set under `root`, or None when nothing has been indexed yet. `view` memory-maps
        the HNSW files read-only (readers: cheap to re-open, shared between processes)."""
        return cls.open_layout(IndexLayout(root), view)

    @classmethod
    def open_layout(cls, layout: IndexLayout, view: bool = False) -> IndexSet | None:
        manifest = Manifest.read(layout.manifest)
        if manifest is None or manifest.count == 0:
            return None
        return cls(layout, manifest, AnnIndex.open(layout.pooled, view=view),
                   AnnIndex.open(layout.fde, view=view), TokenStore.open(layout.tokens),
                   FDE(manifest.spec.fde_config()))

    @classmethod
    def create(cls, layout: IndexLayout, spec: IndexSpec, codec: TokenCodec) -> IndexSet:
        """A new, empty index set under `layout` whose token rows are decoded by `codec`."""
        layout.vectors.mkdir(parents=True, exist_ok=True)
        fde = FDE(spec.fde_config())
        tokens = TokenStore.create(layout.tokens, spec.dim, codec.reduced_dim,
                                   pool_factor=spec.token_pool_factor)
        tokens.set_codec(codec)
        return cls(layout, Manifest(spec, codec=codec.digest()),
                   AnnIndex.create(layout.pooled, spec.dim, spec.dtype),
                   AnnIndex.create(layout.fde, fde.config.output_dim, spec.fde_dtype), tokens, fde)

    def add_embeddings(self, keys: np.ndarray, pooled: np.ndarray, codes: list[np.ndarray]) -> None:
        """Add papers as the store keeps them: pooled vectors ``(n, dim)`` and int8 token rows. The FDE is
        computed from the decoded rows, so an index built from the store is the same on every machine."""
        codec = self.tokens.codec
        assert codec is not None
        self.pooled.add(keys, pooled)
        if self._fde_of_codes is None or self._fde_of_codes[0] is not codec:
            folded = self.fde.in_basis(codec.projection) if self.fde.projection is not None else None
            self._fde_of_codes = (codec, folded)
        folded = self._fde_of_codes[1]
        if folded is not None:  # hyperplanes folded into the codec's basis: no 384-wide tokens formed
            fdes = folded.encode_documents([codec.decode(c) for c in codes])
        else:
            fdes = self.fde.encode_documents([codec.reconstruct(c) for c in codes])
        self.fde_ann.add(keys, fdes)
        self.tokens.add_codes(keys, codes)

    def save(self, last_seq: int) -> None:
        """Persist every index, then move the checkpoint (the manifest) forward."""
        self.tokens.flush()
        self.pooled.save()
        self.fde_ann.save()
        self.manifest.last_seq = last_seq
        self.manifest.count = len(self.pooled)
        self.manifest.write(self.layout.manifest)

    def disk_bytes(self) -> int:
        """Bytes the index set occupies on disk."""
        return sum(p.stat().st_size for p in self.layout.vectors.rglob("*") if p.is_file())
