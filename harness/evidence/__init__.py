"""Evidence for the deploy gate: static (code), config (settings), dynamic (run results).

``STATIC_CHECKS`` and ``CONFIG_CHECKS`` are the names a checklist may use; each
maps to a function ``(evidence, context) -> Outcome``.
"""

from harness.evidence.config import CONFIG_CHECKS
from harness.evidence.static import STATIC_CHECKS

__all__ = ["CONFIG_CHECKS", "STATIC_CHECKS"]
