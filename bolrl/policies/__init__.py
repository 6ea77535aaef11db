"""The expressivity axis: policy classes, looked up by name (see `bolrl.registry.POLICIES`,
which says what each one is)."""

from bolrl.policies.base import Policy
from bolrl.registry import POLICIES as _ENTRIES

POLICIES: dict[str, type[Policy]] = {name: entry.load() for name, entry in _ENTRIES.items()}
