"""The README's ten-line example runs as written on the public API (with one epoch instead of a hundred)."""
import re
from pathlib import Path

import acn_core

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch):
    snippet = re.search(r"## Ten-line example\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(snippet.strip().splitlines()) <= 10
    original = acn_core.RunConfig

    def one_epoch():
        config = original()
        config.train.epochs = 1
        return config

    monkeypatch.setattr(acn_core, "RunConfig", one_epoch)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert len(namespace["ids"]) == 8 and len(namespace["frames"]) == 11
    assert namespace["bundle"].n_train == 4000 and (tmp_path / "my-model" / "config.json").is_file()
