"""Comparing runs: fingerprints, baselines, thresholds and the noise-aware verdict.

Pure code: no pytest, no database driver. The modules are imported one by one (this package
imports nothing), so the pytest plugin can parse thresholds without loading ``hdrh``.

- :mod:`.thresholds` parses ``p95:+10%,qps:-5%`` and ``regression={...}``;
- :mod:`.comparable` says whether two fingerprints match, naming the fields that differ;
- :mod:`.baseline` parses ``--flakebench-compare`` and picks the last comparable run;
- :mod:`.samples` turns a run's per-second snapshots into per-second metric samples;
- :mod:`.stats` is the Mann-Whitney U test (exact for small samples);
- :mod:`.verdict` decides REGRESSED / IMPROVED / UNCHANGED / INCONCLUSIVE per metric.
"""
