"""The measurements against the peers, one module per measurement, each run as a subprocess of
the peers' virtualenv by ``bench/run.py``; each prints one JSON result line."""
