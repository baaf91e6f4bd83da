"""The courtroom lends each seat's autogen agent to the next case instead of building one per
juror per case (a tenth of the jury path's CPU), and the gateway keeps the import heap out of
the garbage collector's walks. What a reused agent must not carry over is checked in
test_courtroom (``test_cases_judged_by_one_courtroom_share_nothing``)."""

from __future__ import annotations

import gc

from agents.gateway import Gateway
from tests.jury.test_courtroom import FAST, MODELS, case_file, courtroom, seat
from tests.support.sim_server import SimServer


async def test_agents_are_lent_to_the_next_case_reset_and_rebound(
    openai_server: SimServer,
) -> None:
    for name in MODELS:
        seat(openai_server, name, True)
    room = courtroom(openai_server, rounds=0)
    first = await room.judge(case_file(case_id="sim::q-1::text"))
    agents = {id(lent.agent) for idle in room._idle.values() for lent in idle}
    assert len(agents) == len(MODELS)
    second = await room.judge(case_file(case_id="sim::q-2::text"))
    assert {id(lent.agent) for idle in room._idle.values() for lent in idle} == agents
    # Each case's votes were asked and recorded under its own case: one call per seat each.
    assert [v.case_id for v in first.votes] == ["sim::q-1::text"] * len(MODELS)
    assert [v.case_id for v in second.votes] == ["sim::q-2::text"] * len(MODELS)
    assert openai_server.count() == 2 * len(MODELS)
    for idle in room._idle.values():
        for lent in idle:  # rebound to the case they served last
            assert lent.client._scope.startswith("sim::q-2::text/")


def test_a_gateway_freezes_the_import_heap() -> None:
    Gateway(FAST)
    # litellm's objects, loaded by the gateway, are out of the collector's generations.
    assert gc.get_freeze_count() > 100_000
