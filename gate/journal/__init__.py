"""The journal: every passage, alert and door event, kept in SQLite; trajectories come from it."""

from gate.journal import schema
from gate.journal.journal import Journal
from gate.journal.queries import JournalQueries

__all__ = ["Journal", "JournalQueries", "schema"]
