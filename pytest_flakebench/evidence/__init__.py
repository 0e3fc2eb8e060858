"""Why a run was as fast as it was: what the server saw while the harness measured.

- ``plan_shape``: a statement's plan reduced to node types, relations, indexes and nesting,
  with a short hash (pure);
- ``explain``: each kind's statement explained in preflight (PostgreSQL, SQLite, Snowflake);
- ``pg_stats``: ``pg_stat_statements`` / ``pg_stat_user_tables`` / ``pg_stat_database``
  snapshots and deltas; ``waits``: ``pg_stat_activity`` sampled for the run's backends;
- ``snowflake_history``: the run's queries from ``QUERY_HISTORY`` by query tag;
- ``collector``: a worker's part (preflight, around the load); ``attach``: the controller's
  part (into ``RunResult``); ``selfcheck``: the harness's counts against the server's (pure);
- ``compare``: what changed server side between two runs; ``report``: tables and lines.

Nothing here runs inside the timed region, and a failure here is a note, never a failed run.
"""
