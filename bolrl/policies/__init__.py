"""The expressivity axis: policy classes looked up by name."""

from bolrl.policies.base import Policy
from bolrl.policies.diffusion import DiffusionPolicy
from bolrl.policies.gaussian import GaussianPolicy

POLICIES: dict[str, type[Policy]] = {
    "gaussian": GaussianPolicy,
    "diffusion": DiffusionPolicy,
}
