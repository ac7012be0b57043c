"""One process of the distributed-equivalence test (run by torchrun, or alone): trains tiny data and writes
every step's neighbour picks and the final weights to OUT (rank 0 only)."""
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parent))
from acn_core.training.codes import CodeTable  # noqa: E402
from acn_core.training.distributed import from_environment  # noqa: E402
from acn_core.runtime import configure  # noqa: E402
from acn_core.training.loop import train  # noqa: E402
from conftest import make_data, tiny_config  # noqa: E402

picks = []
original = CodeTable.pick_neighbours


def recording(self, *args, **kwargs):
    chosen = original(self, *args, **kwargs)
    picks.append(chosen.clone())
    return chosen


if __name__ == "__main__":
    out = Path(sys.argv[1])
    configure(1)
    CodeTable.pick_neighbours = recording
    group = from_environment("cpu")
    config = tiny_config(epochs=3, batch_size=128, seed=5)
    result = train(config, make_data(n_train=512, n_test=16), group=group)
    if group is None or group.main:
        tensors = {f"model.{k}": v for k, v in result.model.state_dict().items()}
        tensors.update({f"picks.{i}": p for i, p in enumerate(picks)})
        tensors["table"] = result.code_table.codes
        tensors["processes"] = torch.tensor([group.size if group else 1])
        save_file(tensors, str(out))
    if group is not None:
        group.close()
