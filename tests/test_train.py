import pytest
import torch

from acn_core.training.loop import TrainingCancelled, TrainingDiverged, train
from conftest import make_data, tiny_config


def _weights(result):
    return {k: v.clone() for k, v in result.model.state_dict().items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_same_seed_same_result_and_other_seed_differs():
    data = make_data()
    a, b = train(tiny_config(seed=3), data), train(tiny_config(seed=3), data)
    _assert_same(_weights(a), _weights(b))
    assert torch.equal(a.code_table.codes, b.code_table.codes)
    c = train(tiny_config(seed=4), data)
    assert not torch.equal(a.model.encoder.net[1].weight, c.model.encoder.net[1].weight)


def test_training_reduces_the_loss_and_reports_both_terms():
    events = []
    result = train(tiny_config(epochs=6), make_data(), callbacks=(events.append,))
    assert [e.epoch for e in events if e.kind == "epoch"] == list(range(1, 7))
    history = result.history
    assert history[-1].total < history[0].total and all(h.kl > 0 for h in history)


def test_a_killed_run_resumes_exactly_where_it_left_off(tmp_path):
    data = make_data()
    full = train(tiny_config(epochs=3), data, tmp_path / "full")
    calls = {"n": 0}

    def stop_in_epoch_3():
        calls["n"] += 1
        return calls["n"] > 2 * 3 + 1  # 3 steps per epoch: stop at the 2nd step of epoch 3

    with pytest.raises(TrainingCancelled):
        train(tiny_config(epochs=3), data, tmp_path / "cut", should_stop=stop_in_epoch_3)
    resumed = train(tiny_config(epochs=3), data, tmp_path / "cut")
    assert resumed.resumed_from_epoch == 2
    _assert_same(_weights(full), _weights(resumed))
    assert torch.equal(full.code_table.codes, resumed.code_table.codes)


def test_a_checkpoint_of_another_config_is_refused(tmp_path):
    data = make_data()
    train(tiny_config(epochs=1), data, tmp_path)
    with pytest.raises(ValueError, match="different configuration"):
        train(tiny_config(epochs=1, k=2), data, tmp_path)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from acn_core.model.acn import ACN

    data = make_data()
    original, calls = ACN.losses, {"n": 0}

    def losses_that_blow_up(self, *args):
        calls["n"] += 1
        recon, kl = original(self, *args)
        return (recon * float("nan"), kl) if calls["n"] == 5 else (recon, kl)  # step 2 of epoch 2

    monkeypatch.setattr(ACN, "losses", losses_that_blow_up)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 2 of epoch 2.*after epoch 1"):
        train(tiny_config(epochs=3), data, tmp_path)
    kept = (tmp_path / "checkpoint.safetensors").read_bytes()
    monkeypatch.setattr(ACN, "losses", original)
    resumed = train(tiny_config(epochs=3), data, tmp_path)  # the kept checkpoint is usable
    assert resumed.resumed_from_epoch == 1 and len(kept) > 0


def test_a_batch_too_large_for_the_device_is_one_sentence_naming_a_batch_that_fits(tmp_path, monkeypatch):
    """Out of the accelerator's memory (here faked: any step of more than 12 images fails as CUDA's would),
    training stops with the largest power-of-two share of the batch that fits, not a traceback."""
    from acn_core.training.loop import BatchTooLarge, Trainer

    original = Trainer.step

    def step_that_fits_12(self, images, *args, **kwargs):
        if len(images) > 12:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, images, *args, **kwargs)

    monkeypatch.setattr(Trainer, "step", step_that_fits_12)
    with pytest.raises(BatchTooLarge, match=r"a batch of 32 images does not fit .*; 8 does: train with --batch-size 8"):
        train(tiny_config(epochs=1, batch_size=32), make_data(), tmp_path)
