"""A linear model over `features.matrix`: its weights, its card, and a file without pickle.

A model file is an `.npz` of plain arrays (loaded with `allow_pickle=False`, so a file cannot
run code) and a JSON card beside it: version, date, training data, calibration and the
figures it reached. Weights are stored sparse (only the columns training touched) in float16:
the shipped base model is a few MB.

A brand's model is *stacked* on a base: its first columns are the base's three logits, so
it keeps what the base learned from public data and adds what the brand's staff taught it.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from advocates.detection import features
from advocates.detection.types import DECISIONS

BASE_DIR = Path(__file__).resolve().parent / "base"
BASE_NAME = "kansha-base"
FILE_FORMAT = "kansha-linear-1"


class ModelFileError(ValueError):
    """A model file that is not one of ours, is damaged, or does not fit this code."""


@dataclass(slots=True)
class LinearModel:
    """logits = X @ weights + intercept (+ base logits @ stack for a brand model)."""

    weights: np.ndarray  # (features.COLUMNS, 3), float32
    intercept: np.ndarray  # (3,)
    card: dict[str, Any]
    temperature: float = 1.0  # logits are divided by it before the softmax (calibration)
    base: LinearModel | None = None
    stack: np.ndarray | None = None  # (3, 3): the base's logits into this model's
    _pushes: np.ndarray | None = field(default=None, repr=False)

    @property
    def version(self) -> str:
        return str(self.card["version"])

    @property
    def threshold(self) -> float:
        """The thank-you threshold chosen for this model when it was trained."""
        return float(self.card.get("threshold", 0.5))

    # --- predicting -----------------------------------------------------------------------

    def logits(self, x: sparse.csr_matrix) -> np.ndarray:
        out = np.asarray(x @ self.weights, dtype=np.float64) + self.intercept
        if self.base is not None and self.stack is not None:
            out += self.base.logits(x) @ self.stack
        return out

    def probabilities(self, x: sparse.csr_matrix) -> np.ndarray:
        """(rows, 3) probabilities of thank, care, none (calibrated)."""
        z = self.logits(x) / self.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def pushes(self) -> np.ndarray:
        """(features.COLUMNS, 3): each column's weight for a class minus its mean weight for
        the other two (a brand model's base folded in). Computed once: reasons read it for
        every detection."""
        if self._pushes is None:
            w = self.weights.astype(np.float32)
            if self.base is not None and self.stack is not None:
                w = w + (self.base.weights @ self.stack).astype(np.float32)
            classes = range(len(DECISIONS))
            self._pushes = np.stack(
                [w[:, c] - w[:, [o for o in classes if o != c]].mean(axis=1) for c in classes],
                axis=1)
        return self._pushes

    # --- files ----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The `.npz` bytes (no pickle). A brand model's base is named in its card, not
        copied: it is loaded from the shipped file by version."""
        used = np.flatnonzero(np.any(self.weights != 0, axis=1)).astype(np.int32)
        arrays: dict[str, np.ndarray] = {
            "format": np.array(FILE_FORMAT),
            "columns": used,
            "values": self.weights[used].astype(np.float16),
            "intercept": self.intercept.astype(np.float64),
            "temperature": np.array(self.temperature, dtype=np.float64),
            "card": np.array(json.dumps(self.card, ensure_ascii=False, sort_keys=True)),
        }
        if self.stack is not None:
            arrays["stack"] = self.stack.astype(np.float64)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy stub
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearModel:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                if str(npz["format"]) != FILE_FORMAT:
                    raise ModelFileError(f"not a {FILE_FORMAT} file: {npz['format']}")
                card = json.loads(str(npz["card"]))
                columns = npz["columns"].astype(np.int64)
                values = npz["values"].astype(np.float32)
                intercept = npz["intercept"].astype(np.float64)
                temperature = float(npz["temperature"])
                stack = npz["stack"].astype(np.float64) if "stack" in npz.files else None
        except (KeyError, OSError, ValueError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"not a readable model file: {exc}") from exc
        if card.get("features") != features.FEATURES_VERSION:
            raise ModelFileError(f"model {card.get('version')} was trained on features "
                                 f"{card.get('features')}, this code makes "
                                 f"{features.FEATURES_VERSION}: retrain it")
        if columns.size and (columns.min() < 0 or columns.max() >= features.COLUMNS):
            raise ModelFileError("model columns out of range")
        weights = np.zeros((features.COLUMNS, len(DECISIONS)), dtype=np.float32)
        weights[columns] = values
        base = None
        if stack is not None:
            base = base_model(card.get("base", ""))
        return cls(weights=weights, intercept=intercept, card=card, temperature=temperature,
                   base=base, stack=stack)

    def save(self, directory: Path) -> tuple[Path, Path]:
        """Write `<version>.npz` and `<version>.json` (the card, for people) in `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        weights_path = directory / f"{self.version}.npz"
        card_path = directory / f"{self.version}.json"
        weights_path.write_bytes(self.to_bytes())
        card_path.write_text(json.dumps(self.card, ensure_ascii=False, indent=2,
                                        sort_keys=True) + "\n", encoding="utf-8")
        return weights_path, card_path


_BASES: dict[str, LinearModel] = {}


def base_versions() -> list[str]:
    """The base models that ship, oldest first (their names carry the date)."""
    return sorted(p.stem for p in BASE_DIR.glob(f"{BASE_NAME}-*.npz"))


def base_model(version: str = "") -> LinearModel:
    """A shipped base model by version; the newest when `version` is empty."""
    versions = base_versions()
    if not versions:
        raise ModelFileError(f"no base model in {BASE_DIR}: run manage.py detector_train --base")
    version = version or versions[-1]
    if version not in versions:
        raise ModelFileError(f"base model {version} is not shipped (have {', '.join(versions)})")
    if version not in _BASES:
        _BASES[version] = LinearModel.from_bytes((BASE_DIR / f"{version}.npz").read_bytes())
    return _BASES[version]
