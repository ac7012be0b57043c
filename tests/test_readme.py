"""The README's ten-line example runs as written (with one epoch instead of sixty)."""
import re
from pathlib import Path

import acn_core.bundle  # noqa: F401  (bound to the real RunConfig before the patch below)
import acn_core.config

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch):
    snippet = re.search(r"## Ten-line example\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    original = acn_core.config.RunConfig

    def one_epoch():
        config = original()
        config.train.epochs = 1
        return config

    monkeypatch.setattr(acn_core.config, "RunConfig", one_epoch)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert len(namespace["ids"]) == 8 and len(namespace["frames"]) == 11
    assert (tmp_path / "my-model" / "config.json").is_file()
