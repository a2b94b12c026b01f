"""What the agent keeps in its store, and reads back at start.

- its state row (``STATE_KEY``): the :class:`~probe.agent.state.AgentState` plus what
  ``probe status`` shows beside it (campaign progress, the next test);
- each tested record with its per-test verdict and fleet labels, committed with the state row
  in one transaction (the state row follows its measurement);
- at start: the saved state, the alert state, and the start times of the recent valid tests
  (campaign progress is recomputed from them, never kept as a plan that could drift).

Every store call runs in the store thread (:class:`~probe.agent.storethread.StoreThread`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from probe.agent.agenda import Slot, valid_starts
from probe.agent.state import STATE_KEY, AgentState
from probe.compliance.labels import fleet_labels

if TYPE_CHECKING:
    from probe.agent.alerting import Alerting
    from probe.agent.storethread import StoreThread
    from probe.compliance.contract import Contract
    from probe.measurement import Measurement

# Campaign progress is recomputed from the measurements of this many recent days at start.
HISTORY_DAYS = 45


def state_row(state: AgentState, *, campaign: dict[str, object] | None, next_slot: Slot | None,
              probe_id: str, subscriber_id: str) -> dict[str, object]:
    """The state plus what `probe status` shows beside it (campaign, next test)."""
    return {**state.to_json_dict(), "campaign": campaign,
            "next_test_at": None if next_slot is None else next_slot.at.isoformat(),
            "next_test_kind": None if next_slot is None else next_slot.kind,
            "probe_id": probe_id, "subscriber_id": subscriber_id}


async def restore(store: StoreThread, contract: Contract, directions: Sequence[str], *,
                  now: datetime, alerting: Alerting | None) -> tuple[AgentState | None,
                                                                     list[datetime]]:
    """The saved state (None: a first start) and the recent valid starts; the alert state is
    put back into ``alerting``."""
    saved = await store.call(lambda: store.db().get_state(STATE_KEY))
    if alerting is not None:
        from probe.agent.alerting import ALERTS_KEY
        from probe.agent.alertstate import AlertState

        alerts = await store.call(lambda: store.db().get_state(ALERTS_KEY))
        if alerts:
            alerting.state = AlertState.from_json_dict(alerts)
    since = now - timedelta(days=HISTORY_DAYS)
    start = contract.start_utc()
    rows = await store.call(lambda: store.db().history(max(since, start) if start else since))
    valid = valid_starts(rows, contract.subscriber_id, directions)
    return (AgentState.from_json_dict(saved) if saved else None), valid


async def keep_test(store: StoreThread, m: Measurement, *, contract: Contract, probe_id: str,
                    verdict: str | None, state: dict[str, object]) -> None:
    """Commit one tested record (``verdict`` None: unchecked) and the state row together."""
    # The fleet data model's plan/region/technology/period tags and contracted rates
    # (docs/data-model.md), fixed now so a point forwarded later says the same.
    fleet = None if verdict is None else fleet_labels(contract, m.started_at)

    def save() -> None:
        db = store.db()
        db.save(m, probe_id=probe_id, subscriber_id=contract.subscriber_id,
                contract_ref=contract.plan.id, verdict=verdict,
                fleet=None if fleet is None else fleet.to_json_dict())
        db.put_state(STATE_KEY, state)

    # Shielded: a SIGTERM arriving now must not leave the commit half-way (it cannot in
    # SQLite, but the state row should follow its measurement).
    await asyncio.shield(store.call(save))
