"""The benchmark template: what a marker, a template file or a stored template declares.

``model`` (the strict, frozen pydantic model), ``types`` (durations, rates, names and their
bounds), ``params`` (custom queries and parameter strategies), ``load`` (marker keywords plus
files and ``store:`` templates, with clear errors) and ``targets`` (named targets to URLs).
Pure: no database client, no pytest.
"""
