"""Hardware stage: components that count actions, run as SimPy processes in chip cycles.

One module per kind of hardware:

* :mod:`~archsim.hw.crossbar` — the resistive array; :mod:`~archsim.hw.dac` — row DACs;
  :mod:`~archsim.hw.tia` — column TIAs; :mod:`~archsim.hw.adc` — column-multiplexed ADCs;
  :mod:`~archsim.hw.shift_add` — partial-sum merging; :mod:`~archsim.hw.buffer` — tile buffers;
* :mod:`~archsim.hw.tile` — the tile's per-operation cost model over those components
  (:mod:`~archsim.hw.operation` holds the cost record);
* :mod:`~archsim.hw.crossbar_group` — the crossbars that step together, a SimPy process with a
  job port; :mod:`~archsim.hw.controller` — the RISC-V-like in-order cores that run the
  instruction stream (one per chip or per tile);
  :mod:`~archsim.hw.digital` — the vector unit for activation, pooling and residual adds;
* :mod:`~archsim.hw.network_interface` — the tiles' network interfaces: activations cut into
  packets, sent and received by the controller cores;
* :mod:`~archsim.hw.noc` — the network-on-chip: topology, deterministic routing, packet
  format, and the SimPy network of routers and links with credit flow control;
* :mod:`~archsim.hw.chip` — the chip: how a trace record runs on the components above;
  :mod:`~archsim.hw.component` — the base class (actions, counts, busy cycles).
"""
