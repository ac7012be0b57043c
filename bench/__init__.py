"""The project's benchmarks, one front door: `python -m bench --help` lists every command and its options."""
