"""The handlers every run starts from (stage: sim).

:func:`default_handlers` joins the forward handlers of :mod:`archsim.sim.handlers`, the
training handlers of :mod:`archsim.sim.training` and the fabric's of :mod:`archsim.sim.fabric`;
a run extends it with
:meth:`~archsim.sim.handlers.Handlers.register`.
"""

from __future__ import annotations

from archsim.sim.fabric import register_fabric
from archsim.sim.handlers import Handlers, forward_handlers
from archsim.sim.training import register_training

__all__ = ["default_handlers"]


def default_handlers() -> Handlers:
    """The built-in handlers: forward matrix, digital and pass-through records; backward
    ``mvm_t`` and the update records (on a system with training units); the block-sparse
    records (on a system with a fabric)."""
    return register_fabric(register_training(forward_handlers()))
