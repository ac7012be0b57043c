"""Checks of untrusted bundle files *before* anything is built from them.

A bundle may come from anyone (an upload, a folder unzipped by hand), and its checksums only prove that
its files match its own config.json. So every JSON field is checked for type and range, tensor shapes
and dtypes are read from the safetensors header before any model is allocated, and an Annoy index is
walked node by node before Annoy reads it (a corrupt one can crash the process on query).
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..storage import BundleError, regular_file

MAX_HEADER_BYTES = 16 << 20
SAFETENSORS_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                      "BOOL": 1}


def require(doc: Any, key: str, kind: type | tuple[type, ...], where: str, *, low: float | None = None,
            high: float | None = None, choices: tuple | None = None, optional: bool = False) -> Any:
    """`doc[key]` if it has the right type (and range / choice); else a BundleError naming `where` and the field."""
    if not isinstance(doc, dict):
        raise BundleError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    if key not in doc:
        if optional:
            return None
        raise BundleError(f"{where}: the field {key!r} is missing; the file is damaged or from another program")
    value = doc[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if ok and isinstance(value, float):
        ok = math.isfinite(value)
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise BundleError(f"{where}: the field {key!r} must be {names}, got {json.dumps(value)[:60]}")
    if choices is not None and value not in choices:
        raise BundleError(f"{where}: the field {key!r} must be one of {', '.join(map(str, choices))}; got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise BundleError(f"{where}: the field {key!r} must be between {low} and {high}, got {value!r}")
    return value


def string_list(doc: dict, key: str, where: str, max_items: int = 1000) -> list[str]:
    items = require(doc, key, list, where)
    if len(items) > max_items or not all(isinstance(s, str) and len(s) <= 1000 for s in items):
        raise BundleError(f"{where}: the field {key!r} must be a list of at most {max_items} short strings")
    return items


def safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Name -> (dtype, shape) of every tensor in a safetensors file, from its header alone, with the
    header's offsets checked against the file size."""
    size = regular_file(path, "tensor file").stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise BundleError(f"{path} ({size:,} bytes) is incomplete or corrupt: too short for a safetensors header")
        length = struct.unpack("<Q", head)[0]
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise BundleError(f"{path} ({size:,} bytes) is incomplete or corrupt: its header claims {length:,} bytes")
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BundleError(f"{path}: the safetensors header is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise BundleError(f"{path}: the safetensors header is not an object")
    out, data_size = {}, size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = require(entry, "dtype", str, f"{path}: tensor {name!r}", choices=tuple(SAFETENSORS_DTYPES))
        shape = require(entry, "shape", list, f"{path}: tensor {name!r}")
        offsets = require(entry, "data_offsets", list, f"{path}: tensor {name!r}")
        if not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in shape + offsets) \
                or len(offsets) != 2 or len(shape) > 8:
            raise BundleError(f"{path}: tensor {name!r} has a malformed shape or offsets")
        if offsets[1] - offsets[0] != math.prod(shape) * SAFETENSORS_DTYPES[dtype] or offsets[1] > data_size:
            raise BundleError(f"{path} ({size:,} bytes) is incomplete or corrupt: tensor {name!r} does not fit in "
                              f"the file")
        out[name] = (dtype, tuple(shape))
    return out


def check_tensors(path: Path, header: dict[str, tuple[str, tuple[int, ...]]],
                  expected: dict[str, tuple[str, tuple[int, ...]]], what: str) -> None:
    """Compare a header with the tensors the config implies: names, dtypes and shapes."""
    missing = sorted(set(expected) - set(header))[:3]
    extra = sorted(set(header) - set(expected))[:3]
    wrong = [f"{k}: file {header[k][0]} {list(header[k][1])} vs {expected[k][0]} {list(expected[k][1])}"
             for k in expected if k in header and header[k] != expected[k]][:3]
    if missing or extra or wrong:
        raise BundleError(f"{path} does not fit {what} (missing {missing}, unexpected {extra}, differences {wrong}); "
                          f"it belongs to another model or is damaged")


def annoy_node_dtype(dimension: int) -> np.dtype:
    """One node of an Annoy euclidean index with int32 ids and float32 values (annoylib.h)."""
    return np.dtype([("n_descendants", "<i4"), ("a", "<f4"), ("children", "<i4", (2,)), ("v", "<f4", (dimension,))])


def check_annoy_file(path: Path, dimension: int, count: int) -> None:
    """Walk every node of an Annoy file so that Annoy can never follow a pointer out of range: the size is
    a whole number of nodes; the first `count` nodes are items (one descendant, finite vectors); every
    later node lists 2..K item ids below `count`, or splits into two children that precede it (so the
    trees have no cycles) with a finite hyperplane. Raises BundleError naming the first bad node."""
    node = annoy_node_dtype(dimension)
    size = regular_file(path, "index file").stat().st_size
    if size == 0 or size % node.itemsize or size // node.itemsize <= count:
        raise BundleError(f"{path} ({size:,} bytes) is not an index of {count} codes of dimension {dimension} "
                          f"(nodes of {node.itemsize} bytes); rebuild the index")
    nodes = np.fromfile(path, dtype=node)
    n = nodes["n_descendants"]
    ids = nodes.view(np.int32).reshape(len(nodes), -1)[:, 2:]  # the children slots and beyond, as ids
    slots = ids.shape[1]
    problems = []
    if (n[:count] != 1).any() or not np.isfinite(nodes["v"][:count]).all():
        problems.append("its item nodes are not items")
    rest = np.arange(count, len(nodes))
    n_rest = n[count:]
    if ((n_rest < 2) | (n_rest > count)).any():
        problems.append("a node has an impossible number of descendants")
    else:
        listing = n_rest <= slots
        lists = ids[count:][listing]
        within = np.arange(slots) < n_rest[listing, None]
        if ((lists < 0) | (lists >= count))[within].any():
            problems.append("a leaf lists an item id out of range")
        children = nodes["children"][count:][~listing]
        if ((children < 0) | (children >= rest[~listing, None])).any():
            problems.append("a split node points forward or out of range")
        if not np.isfinite(nodes["v"][count:][~listing]).all() or not np.isfinite(nodes["a"][count:][~listing]).all():
            problems.append("a split node has a non-finite hyperplane")
    if problems:
        raise BundleError(f"{path} is corrupt: {problems[0]}; rebuild the index")
