"""Benchmarks: scripts that print measurements (run as files), and the real-model bench package
(real_model/, run as `python -m benchmarks.real_model.run`)."""
