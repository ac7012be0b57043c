"""Speed and memory benchmarks: `python -m bench [--quick] [--json FILE]`."""
