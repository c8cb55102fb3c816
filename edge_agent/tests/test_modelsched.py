"""CpuBudget: a lone inference gets every CPU, overlapping ones one CPU each, never more busy
than the budget (observed through the budget's own counters, waited on, never timed)."""

from __future__ import annotations

import threading

from edge_agent.runtime.modelsched import CpuBudget, Sessions, plan
from tests.support.waiting import wait_for


class Holder(threading.Thread):
    """Takes a slot, says what it got, and holds it until told to let go."""

    def __init__(self, budget: CpuBudget) -> None:
        super().__init__(daemon=True)
        self.budget = budget
        self.whole: bool | None = None
        self.release = threading.Event()

    def run(self) -> None:
        with self.budget.slot() as whole:
            self.whole = whole
            self.release.wait(30)


def test_a_lone_call_gets_every_cpu_and_overlapping_calls_one_each():
    budget = CpuBudget(2, 2, split=True)
    first = Holder(budget)
    first.start()
    wait_for(lambda: first.whole is not None, 10)
    assert first.whole is True  # idle, nobody waiting: the parallel session
    second, third = Holder(budget), Holder(budget)
    second.start()
    third.start()
    wait_for(lambda: budget._waiting == 2, 10)  # both wait: the first holds every CPU
    first.release.set()
    # Two waiting when the CPUs came free: one CPU each, side by side.
    wait_for(lambda: second.whole is not None and third.whole is not None, 10)
    assert (second.whole, third.whole) == (False, False)
    assert budget._free == 0 and budget._running == 2
    second.release.set()
    third.release.set()
    for holder in (first, second, third):
        holder.join(10)
    assert budget._free == 2 and budget._running == 0


def _lone_call(budget: CpuBudget) -> bool:
    with budget.slot() as whole:
        return whole


def test_after_overlapping_calls_a_lone_call_takes_one_cpu_until_one_ran_alone():
    budget = CpuBudget(2, 2, split=True)
    first, second = Holder(budget), Holder(budget)
    first.start()
    wait_for(lambda: first.whole is not None, 10)
    second.start()  # arrives while the first runs: the calls overlap
    wait_for(lambda: budget._waiting == 1, 10)
    first.release.set()
    wait_for(lambda: second.whole is not None, 10)
    assert second.whole is False
    second.release.set()
    for holder in (first, second):
        holder.join(10)
    # Idle now, but the calls came close together: the next one still takes one CPU; once one
    # call ran alone, they are sparse again and the next takes every CPU.
    assert _lone_call(budget) is False
    assert _lone_call(budget) is True
    assert _lone_call(budget) is True
    assert budget._free == 2 and budget._running == 0


def test_one_session_means_one_cpu_per_call_up_to_the_workers():
    budget = CpuBudget(3, 3, split=False)
    holders = [Holder(budget) for _ in range(4)]
    for holder in holders:
        holder.start()
    wait_for(lambda: budget._running == 3 and budget._waiting == 1, 10)
    assert all(h.whole is False for h in holders if h.whole is not None)
    for holder in holders:
        holder.release.set()
        holder.join(10)
    assert budget._running == 0


def test_the_plan_by_machine_and_provider():
    assert plan(2, None, cpu_only=True) == (2, True)  # two at once, a single-thread session
    assert plan(1, None, cpu_only=True) == (1, False)
    assert plan(4, 1, cpu_only=True) == (1, False)  # told one at a time: every thread for it
    assert plan(4, None, cpu_only=False) == (1, False)  # a GPU parallelizes inside
    sessions = Sessions(parallel="parallel", single="single")
    assert CpuBudget.session(sessions, True) == "parallel"
    assert CpuBudget.session(sessions, False) == "single"
    assert CpuBudget.session(Sessions("parallel", None), False) == "parallel"
