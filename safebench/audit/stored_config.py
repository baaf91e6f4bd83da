"""A store's recorded config as the audit views read it: the jury's seats, voting, budget.

A store's ``RunRecord`` keeps its config as the JSON the command stored (the store does not
interpret it, ``transcripts.store_run``). The views read it through :class:`StoredConfig`,
a lenient model of just what they show, because they read every kind of store: a run's
(``RunConfig``: the jury under ``jury``), a re-judged run's (the same), a calibration's (the
jury itself), an experiment's (no jury: its panels change from case to case), and stores
written by older SafeBench versions or edited by hand. What does not fit reads as absent
(no jury, no budget), never as an error: an audit must open any store (only text that is
not JSON at all is a StoreError naming the store). A command that needs the config whole
validates it with its own model (``RunRecord.config_as``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

DEFAULT_PERSONA = "Safety researcher"
"""The persona of a seat whose stored config names none (``JurorConfig.persona``'s default;
a test keeps the two equal: the audit views read stores of any version, so they do not
validate the config with the jury's own models)."""


class JurorSeat(BaseModel):
    """Who sat in a seat: for auditors only (jurors see each other as ``juror-N``)."""

    seat: str
    model: str
    persona: str


class StoredJury(BaseModel):
    """A stored jury: its seats, voting rule, rounds and foreperson."""

    model_config = ConfigDict(frozen=True)

    seats: dict[str, JurorSeat] = {}
    """``juror-N`` -> its model and persona, numbered as the courtroom seats them (an entry
    that is not a juror keeps its number and is left out)."""
    rule: str = "majority"
    voting_options: dict[str, Any] = {}
    """The rule's options (e.g. ``k`` of ``supermajority``), as stored."""
    rounds: int | None = None
    protocol: str | None = None
    foreperson: str | None = None
    """The foreperson's model."""

    @model_validator(mode="before")
    @classmethod
    def _from_stored(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "seats" in data:
            return data
        jurors = data.get("jurors")
        seats: dict[str, JurorSeat] = {}
        for index, juror in enumerate(jurors if isinstance(jurors, list) else []):
            if not isinstance(juror, dict):
                continue
            persona = juror.get("persona", DEFAULT_PERSONA)
            if isinstance(persona, dict):  # an inline persona: its name
                persona = persona.get("name", "inline persona")
            seat = f"juror-{index + 1}"  # the courtroom's seat names (jury.courtroom)
            seats[seat] = JurorSeat(
                seat=seat, model=str(juror.get("model", "?")), persona=str(persona)
            )
        voting = data.get("voting", {})
        if isinstance(voting, str):  # the bare-name shorthand
            voting = {"rule": voting}
        if not isinstance(voting, dict):
            voting = {}
        rounds, protocol = data.get("rounds"), data.get("protocol")
        foreperson = data.get("foreperson")
        return {
            "seats": seats,
            "rule": str(voting.get("rule", "majority")),
            "voting_options": {k: v for k, v in voting.items() if k != "rule"},
            "rounds": rounds if isinstance(rounds, int) else None,
            "protocol": protocol if isinstance(protocol, str) else None,
            "foreperson": str(foreperson.get("model")) if isinstance(foreperson, dict) else None,
        }


class StoredConfig(BaseModel):
    """What the audit views read of a store's config (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    jury: StoredJury | None = None
    """None when the config names no jury (an experiment's store)."""
    budget: dict[str, float] = {}
    """The run's budget as last configured (``max_calls``, ``max_usd``), when it set one."""

    @model_validator(mode="before")
    @classmethod
    def _from_stored(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return {}
        # A run's config holds its jury under ``jury``; a calibration's config is the jury.
        jury = data.get("jury", data)
        has_jurors = isinstance(jury, dict) and isinstance(jury.get("jurors"), list)
        budget = data.get("budget")
        return {
            "jury": jury if has_jurors else None,
            "budget": {k: v for k, v in budget.items() if isinstance(v, int | float)}
            if isinstance(budget, dict)
            else {},
        }

    @property
    def seats(self) -> dict[str, JurorSeat]:
        """Each seat's model and persona (empty when the config names no jury)."""
        return {} if self.jury is None else self.jury.seats
