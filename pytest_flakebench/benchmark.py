"""One benchmark run in one process: preflight, load, and the merged result.

``prepare`` does everything that can fail before load is sent (connect, find the table and key
column, generate and check every statement); ``execute`` runs the engine and assembles the
``RunResult`` with its SLO verdict.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pytest_flakebench.drivers import open_driver
from pytest_flakebench.drivers.base import Driver
from pytest_flakebench.engine.recorder import PHASE_MEASUREMENT
from pytest_flakebench.engine.runner import Engine, EngineConfig, EngineOutcome, Tick
from pytest_flakebench.errors import TargetError
from pytest_flakebench.mix import smooth_weighted_schedule
from pytest_flakebench.profile import TableProfile
from pytest_flakebench.results import RunResult
from pytest_flakebench.targets import ResolvedTarget
from pytest_flakebench.template import Template
from pytest_flakebench.urls import scheme_of
from pytest_flakebench.verdict import Measured, RunMeta, build_result, worker_summary
from pytest_flakebench.workload import KindPlan, ThreadContext, build_plans


@dataclass(slots=True)
class Prepared:
    """A benchmark that passed preflight and is ready to send load."""

    template: Template
    driver: Driver
    profile: TableProfile
    plans: dict[str, KindPlan]
    server_version: str

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


def prepare(template: Template, target: ResolvedTarget, *, base_dir: Path) -> Prepared:
    """Connect, profile the table, build and check every statement; send no load."""
    driver = open_driver(target.url, base_dir=base_dir, password=target.password)
    try:
        version = driver.server_version()
        profile = _profile(driver, template)
        if profile.info.is_view and any(template.kind_operation(k) == "write"
                                        for k in template.weights()):
            raise TargetError(f"{profile.info.table} is a view: the mix must not write to it")
        plans = build_plans(template, profile, dialect=driver.dialect,
                            paramstyle=driver.paramstyle)
        probe = ThreadContext(seed=0, global_index=0, stride=1)
        for plan in plans.values():
            try:
                driver.check_statement(plan.sql, len(plan.make_params(probe)))
            except TargetError as exc:
                raise TargetError(f"{plan.kind}: {exc}") from None
    except BaseException:
        driver.close()
        raise
    return Prepared(template=template, driver=driver, profile=profile, plans=plans,
                    server_version=version)


def engine_config(prepared: Prepared, *, duration_scale: float = 1.0, worker_id: str = "main",
                  connections: int | None = None, thread_base: int = 0,
                  total_threads: int | None = None) -> EngineConfig:
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
        seed=t.seed,
        thread_base=thread_base,
        total_threads=total_threads,
        worker_id=worker_id,
    )


def assemble(prepared: Prepared, outcome: EngineOutcome, *, test: str, run_id: str,
             target: ResolvedTarget, connections: int) -> RunResult:
    """The result of a run measured entirely in this process (no control plane)."""
    o = outcome.aggregate.cells
    worker = worker_summary("main", host=socket.gethostname(), connections=connections,
                            status=outcome.status, measured=o[PHASE_MEASUREMENT],
                            measurement_s=outcome.measurement_s)
    measured = Measured(kinds=outcome.kinds, cells=o, measurement_s=outcome.measurement_s,
                        warmup_s=outcome.warmup_s, started_at=outcome.started_at,
                        ended_at=outcome.ended_at, status=outcome.status,
                        connections=connections, workers=(worker,),
                        snapshots=tuple(outcome.snapshots), messages=list(outcome.messages))
    return build_result(prepared.template, measured, meta_of(prepared, target), run_id=run_id,
                        test=test)


def meta_of(prepared: Prepared, target: ResolvedTarget) -> RunMeta:
    """What the run is pointed at."""
    return RunMeta(target_kind=scheme_of(target.url), target=prepared.driver.redacted_url,
                   table=str(prepared.profile.info.table),
                   server_version=prepared.server_version,
                   row_count=prepared.profile.row_count)


def run_local(prepared: Prepared, *, test: str, target: ResolvedTarget, duration_scale: float,
              on_tick: Callable[[Tick], None] | None = None) -> tuple[RunResult, EngineOutcome]:
    """Run the whole benchmark in this process."""
    config = engine_config(prepared, duration_scale=duration_scale)
    outcome = Engine(config, prepared.driver, on_tick=on_tick).run()
    result = assemble(prepared, outcome, test=test, run_id=new_run_id(), target=target,
                      connections=config.connections)
    return result, outcome


def new_run_id() -> str:
    """A new run id (hex, 32 characters; the first 8 are enough to name it in the CLI)."""
    return uuid.uuid4().hex
