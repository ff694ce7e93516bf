"""Live benchmarks for Sideman: reaction latency, band jitter, xruns, MIDI thru latency.

Run ``python -m benchmarks.run [--quick] [--only NAME]``; see benchmarks/README.md.
They start their own JACK servers and are never part of the default test run.
"""
