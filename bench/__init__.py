"""compuerta's benchmark suite: the gateway measured beside same-run baselines (issue 8).

Run it with ``bench/run`` (see bench/README.md); it writes BENCHMARKS.md. Nothing here is a test:
speed is judged by these figures, never by timed assertions in tests/.
"""
