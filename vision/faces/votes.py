"""Agreement over several frames: identifications of one tracked face, tallied."""

from __future__ import annotations

from dataclasses import dataclass, field

from vision.faces.identify import Identification


@dataclass
class VoteBox:
    """A person wins with `needed` votes and no vote for anyone else; the face is unknown once
    `needed` votes are in without a winner and `unknown_after_s` has passed since it appeared
    (the grace lets a visitor show a pass before being turned away)."""

    needed: int = 2
    unknown_after_s: float = 1.0
    votes: list[Identification] = field(default_factory=list)

    def add(self, identification: Identification) -> None:
        """Count one more identification."""
        self.votes.append(identification)

    def winner(self) -> str | None:
        """The person the votes agree on, if they do."""
        named = {v.person_id for v in self.votes if v.person_id is not None}
        if len(named) != 1:
            return None
        person = next(iter(named))
        count = sum(v.person_id == person for v in self.votes)
        return person if count >= self.needed else None

    def settled(self, age_s: float) -> bool:
        """True when the face is identified, or known to be unknown, for a face `age_s` old."""
        if self.winner() is not None:
            return True
        return len(self.votes) >= self.needed and age_s >= self.unknown_after_s

    def distance(self) -> float | None:
        """The closest distance among the winning votes (or among all votes for an unknown)."""
        person = self.winner()
        values = [v.distance for v in self.votes
                  if v.distance is not None and (person is None or v.person_id == person)]
        return min(values) if values else None
