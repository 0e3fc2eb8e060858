"""Judging a run from its merged measurements.

``stats`` (per-kind statistics from the aggregates), ``results`` (the frozen result values and
their JSON), ``slo`` (limits checked), ``verdict`` (result, verdict and fingerprint of a run),
``fingerprint`` (what must match for runs to be comparable), ``client`` (was the client the
bottleneck?) and ``cost`` (Snowflake credits). Pure: no database client, no pytest.
"""
