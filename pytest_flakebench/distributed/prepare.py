"""One benchmark run in one process: preflight, load, and the merged result.

``prepare`` does everything that can fail before load is sent (connect, find the table and key
column, generate and check every statement); ``engine_config`` gives the engine its share of the
run. The run itself always goes through ``distributed.worker.run_worker`` and the controller,
with ``-n 0`` as with ``-n N`` (one path, so what the benchmarks measure is what users run).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pytest_flakebench.drivers import open_driver
from pytest_flakebench.drivers.base import Driver
from pytest_flakebench.engine.runner import EngineConfig
from pytest_flakebench.errors import FlakebenchError, TargetError
from pytest_flakebench.profile import TableProfile
from pytest_flakebench.template.model import Template
from pytest_flakebench.template.params import KeyParam
from pytest_flakebench.template.targets import ResolvedTarget
from pytest_flakebench.workload.context import ThreadContext
from pytest_flakebench.workload.custom_params import sample_columns
from pytest_flakebench.workload.mix import smooth_weighted_schedule
from pytest_flakebench.workload.plans import KindPlan, PythonOp, build_plans


@dataclass(slots=True)
class Prepared:
    """A benchmark that passed preflight and is ready to send load."""

    template: Template
    driver: Driver
    profile: TableProfile
    plans: dict[str, KindPlan]
    server_version: str
    server_settings: dict[str, str] = field(default_factory=dict)  # for the fingerprint
    notes: tuple[str, ...] = ()  # what the run should say about how it was prepared

    def close(self) -> None:
        """Release the driver's metadata connection."""
        self.driver.close()


def _profile(driver: Driver, template: Template) -> TableProfile:
    info = driver.describe_table(template.table_name())
    if template.key_column is not None:
        column = info.column(template.key_column)
        if column is None:
            names = ", ".join(c.name for c in info.columns)
            raise TargetError(
                f"key_column {template.key_column!r} is not a column of {info.table} "
                f"(columns: {names})"
            )
    elif len(info.primary_key) == 1:
        column = info.column(info.primary_key[0])
    else:
        column = None
    if column is None:
        what = "has no primary key" if not info.primary_key else "has a composite primary key"
        raise TargetError(f"{info.table} {what}: name the key column with key_column='...'")
    key_min, key_max, rows = driver.key_bounds(info, column.name)
    return TableProfile(info=info, key_column=column, key_min=key_min, key_max=key_max,
                        row_count=rows)


# Non-integer keys are read into memory before load: every key up to this many (about
# 25 MB for 16-character text keys), else a sample of this many, and the run says so.
KEY_POOL_SIZE = 250_000
_JSON_SCALARS = (int, float, str, bool)


class Pools(Protocol):
    """Where sampled values are cached (``control.plane.PoolCache``)."""

    def get(self, identity: str, kind: str, column: str, row_count: int,
            size: int) -> list[Any] | None: ...

    def put(self, identity: str, kind: str, column: str, row_count: int, size: int,
            values: list[Any]) -> None: ...


def _pool(driver: Driver, profile: TableProfile, pools: Pools | None, kind: str, column: str,
          size: int) -> list[Any]:
    """Sampled values of ``column``: from the cache when fresh, else sampled (and cached)."""
    identity = f"{driver.redacted_url}|{profile.info.table}"
    if pools is not None:
        try:
            cached = pools.get(identity, kind, column, profile.row_count, size)
        except FlakebenchError:
            cached = None  # a store without the pools table: sample every run
        if cached is not None:
            return cached
    values = driver.sample_column(profile.info, column, size)
    # Only JSON-native values round-trip unchanged; dates, decimals, UUIDs are sampled anew.
    if pools is not None and values and all(isinstance(v, _JSON_SCALARS) for v in values):
        with contextlib.suppress(FlakebenchError):
            pools.put(identity, kind, column, profile.row_count, size, values)
    return values


def _needs_existing_keys(template: Template) -> bool:
    kinds = set(template.weights())
    if kinds & {"point_lookup", "update", "range_scan"}:
        return True
    return any(isinstance(p, KeyParam) for q in template.queries.values() for p in q.params)


def prepare(template: Template, target: ResolvedTarget, *, base_dir: Path,
            python_ops: dict[str, PythonOp] | None = None,
            pools: Pools | None = None, run_id: str | None = None,
            duration_scale: float = 1.0) -> Prepared:
    """Connect, profile the table, build and check every statement; send no load.

    ``run_id``, when known, tags every preflight query (Snowflake ``QUERY_TAG``); a template's
    ``max_credits`` is checked against the planned duration (× ``duration_scale``).
    """
    driver = open_driver(target.url, base_dir=base_dir, password=target.password,
                         table_type=template.table_type, client_path=template.client_path,
                         run_tag=run_id)
    try:
        version = driver.server_version()
        settings_of = getattr(driver, "server_settings", None)  # a driver may predate it
        settings: dict[str, str] = settings_of() if settings_of is not None else {}
        if template.max_credits is not None:
            check_budget(template, driver.dialect, settings, duration_scale)
        profile = _profile(driver, template)
        if profile.info.is_view and any(template.kind_operation(k) == "write"
                                        for k in template.weights()):
            raise TargetError(f"{profile.info.table} is a view: the mix must not write to it")
        samples = {column: _pool(driver, profile, pools, "COLUMN", column, size)
                   for column, size in sample_columns(template).items()}
        key_pool = None
        notes: list[str] = []
        if profile.key_column.type_class != "int" and _needs_existing_keys(template):
            key_pool = _pool(driver, profile, pools, "KEY", profile.key_column.name,
                             KEY_POOL_SIZE)
            if len(key_pool) < profile.row_count:
                notes.append(
                    f"lookups of {profile.key_column.name!r} draw from {len(key_pool):,} "
                    f"sampled keys of {profile.row_count:,} (non-integer keys are held in "
                    f"memory, at most {KEY_POOL_SIZE:,}), plus the keys this run inserts")
        plans = build_plans(template, profile, dialect=driver.dialect,
                            paramstyle=driver.paramstyle, samples=samples,
                            python_ops=python_ops, key_pool=key_pool)
        probe = ThreadContext(seed=0, global_index=0, stride=1)
        for plan in plans.values():
            if plan.call is not None:
                continue  # Python operations have no SQL to check
            try:
                driver.check_statement(plan.sql, len(plan.make_params(probe)))
            except TargetError as exc:
                raise TargetError(f"{plan.kind}: {exc}") from None
    except BaseException:
        driver.close()
        raise
    return Prepared(template=template, driver=driver, profile=profile, plans=plans,
                    server_version=version, server_settings=settings, notes=tuple(notes))


def planned_seconds(template: Template, duration_scale: float = 1.0) -> float:
    """How long the run is planned to load the target: warmup + duration (find_max: budget)."""
    if template.mode == "find_max" and template.find_max is not None:
        return (template.warmup + template.find_max.budget) * duration_scale
    return (template.warmup + template.duration) * duration_scale


def check_budget(template: Template, dialect: str, settings: dict[str, str],
                 duration_scale: float = 1.0) -> None:
    """``TargetError`` (before any load) if the planned run would exceed ``max_credits``."""
    from pytest_flakebench.judge.cost import cost_from_settings

    limit = template.max_credits
    if limit is None:
        return
    if dialect != "snowflake":
        raise TargetError(f"max_credits={limit:g}: credits are a Snowflake cost; remove "
                          f"max_credits from this {dialect} benchmark")
    planned_s = planned_seconds(template, duration_scale)
    cost = cost_from_settings(settings, planned_s)
    if cost is None:
        raise TargetError(f"max_credits={limit:g} needs the warehouse's size: name the "
                          "warehouse in the target URL (?warehouse=WH)")
    if cost.credits > limit:
        raise TargetError(
            f"max_credits={limit:g}: the planned run ({planned_s:g} s of warmup and "
            f"measurement on warehouse {cost.warehouse}) would cost {cost.describe()}, over "
            f"the budget; nothing was sent. Shorten duration/warmup, use a smaller warehouse "
            f"or raise max_credits"
        )


def engine_config(prepared: Prepared, *, duration_scale: float = 1.0, worker_id: str = "main",
                  connections: int | None = None, thread_base: int = 0,
                  total_threads: int | None = None, query_sample: float = 0.0) -> EngineConfig:
    """The engine settings for this process's share of the run."""
    t = prepared.template
    kinds = list(prepared.plans)
    cycle = smooth_weighted_schedule(t.weights())
    return EngineConfig(
        plans=[prepared.plans[k] for k in kinds],
        schedule=[kinds.index(k) for k in cycle],
        connections=connections or t.concurrency,
        warmup_s=t.warmup * duration_scale,
        duration_s=t.duration * duration_scale,
        think_time_s=t.think_time,
        max_tries=t.max_tries,
        seed=t.seed,
        thread_base=thread_base,
        total_threads=total_threads,
        worker_id=worker_id,
        mode=t.mode,
        rate_qps=t.qps or 0.0,
        arrivals=t.arrivals,
        late_after_s=t.late_after,
        drop_after_s=t.drop_after,
        query_sample=query_sample,
    )


def new_run_id() -> str:
    """A new run id (hex, 32 characters; the first 8 are enough to name it in the CLI)."""
    return uuid.uuid4().hex
