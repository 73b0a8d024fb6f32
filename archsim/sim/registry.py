"""The handlers every run starts from (stage: sim).

:func:`default_handlers` joins the forward handlers of :mod:`archsim.sim.handlers`, the
training handlers of :mod:`archsim.sim.training`, the attention and special-function handlers
of :mod:`archsim.sim.attention` and the fabric's of :mod:`archsim.sim.fabric`;
a run extends it with
:meth:`~archsim.sim.handlers.Handlers.register`.

The fabric's handlers, with the fabric's units they drive, are imported when a system with a
fabric binds them: they are a large part of archsim, and a run on crossbar tiles alone would
otherwise pay for them at start-up.
"""

from __future__ import annotations

from archsim.sim.attention import register_attention
from archsim.sim.handlers import Handler, HandlerFactory, Handlers, Simulation, forward_handlers
from archsim.sim.training import register_training
from archsim.workload.trace import LayerSpec

__all__ = ["FABRIC_RECORDS", "default_handlers"]

#: The (phase, kind) of the records the fabric's handlers execute, in the order of
#: :data:`archsim.sim.fabric.FABRIC_HANDLERS`.
FABRIC_RECORDS = (
    ("forward", "spmm"),
    ("backward", "spmm_t"),
    ("update", "spmm_w"),
    ("update", "mask"),
    ("update", "prune"),
    ("update", "regrow"),
)


def _fabric_first(record: tuple[str, str], previous: HandlerFactory | None) -> HandlerFactory:
    """A factory making the fabric's handler of ``record`` on a system with a fabric (the
    fabric's factories decline on any other), else the one of ``previous`` (if any)."""

    def factory(sim: Simulation, layer: LayerSpec) -> Handler | None:
        if sim.system.fabric is not None:
            from archsim.sim.fabric import FABRIC_HANDLERS

            handler = FABRIC_HANDLERS[record](sim, layer)
            if handler is not None:
                return handler
        return previous(sim, layer) if previous is not None else None

    return factory


def default_handlers() -> Handlers:
    """The built-in handlers: forward matrix, digital and pass-through records; backward
    ``mvm_t`` and the update records (on a system with training units); dynamic products and
    special functions (on a system with digital PIM modules or special-function units); the
    block-sparse
    records (on a system with a fabric, in front of any handler registered before for the
    same record)."""
    handlers = register_attention(register_training(forward_handlers()))
    for phase, kind in FABRIC_RECORDS:
        handlers = handlers.register(
            phase, kind, _fabric_first((phase, kind), handlers.factories.get((phase, kind)))
        )
    return handlers
