"""Worker of the bundle fuzz test: reads bundle folders (one path per line) and, for each, loads it, asks for
neighbours and a daydream, and prints one JSON line: {"case", "outcome": "ok" | "error" | "traceback", "detail"}.

A clean refusal is a BundleError/DataError/ValueError with a one-line message; anything else is a
"traceback". A crash (signal) or a hang is seen by the test from outside, which then starts a new worker.
"""
import json
import sys
import traceback

from acn_core.bundle.format import load
from acn_core.data.datasets import DataError
from acn_core.runtime import configure
from acn_core.sampling import daydream, inspect
from acn_core.storage import BundleError


def check(path: str) -> tuple[str, str]:
    try:
        bundle = load(path)
        ids, dists = bundle.neighbours(0, 3)
        assert len(ids) == 3 and (ids < bundle.n_train).all() and (dists >= 0).all(), "bad neighbour answer"
        inspect(bundle, 1, 3)
        frames = list(daydream(bundle, 0, 3, seed=0))
        assert len(frames) == 4 and all(0 <= f.nearest_item < bundle.n_train for f in frames), "bad daydream"
        return "ok", ""
    except (BundleError, DataError, ValueError) as err:
        message = str(err)
        return ("error", message) if message and "\n" not in message else ("traceback", f"multi-line: {message!r}")
    except Exception:  # noqa: BLE001 - anything else is what the fuzz test is looking for
        return "traceback", traceback.format_exc(limit=4)


if __name__ == "__main__":
    configure(1)
    for line in sys.stdin:
        case = line.strip()
        if not case:
            continue
        print(json.dumps({"case": case, "started": True}), flush=True)
        outcome, detail = check(case)
        print(json.dumps({"case": case, "outcome": outcome, "detail": detail[:2000]}), flush=True)
