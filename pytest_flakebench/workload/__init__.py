"""From a template and a profiled table to what the engine runs.

``keys`` (key distributions), ``mix`` (the deterministic order of operations), ``context``
(each thread's seeded generator and key stripes) and ``plans`` (SQL and parameter makers per
kind, as ``engine.plan.KindPlan``). Pure: no database client, no pytest.
"""
