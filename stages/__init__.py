"""One module per DVC stage, each runnable as `python -m stages.<name>`: read params, call domain code, write atomically."""
