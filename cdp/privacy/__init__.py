"""Data subject requests: export, deletion and suppression by any identifier, consent by API,
and timeline retention. The processor's hook is `Suppressor` (kept importable without the rest)."""

from cdp.privacy.hashing import parse_subject, subject_hash
from cdp.privacy.suppression import Suppressor

__all__ = ["Suppressor", "parse_subject", "subject_hash"]
