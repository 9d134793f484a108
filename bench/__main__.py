"""``python -m bench``: run the benchmark suite (see bench/README.md)."""

from __future__ import annotations

if __name__ == "__main__":
    from bench.run import main

    raise SystemExit(main())
