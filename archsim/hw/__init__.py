"""Hardware stage: components that count actions, run as SimPy processes in chip cycles.

* :mod:`~archsim.hw.system` — :func:`build_system`, the one place the chip is assembled from a
  config: tile groups, controller, vector units, NoC, network interfaces;
* :mod:`~archsim.hw.component` — the base class: actions declared with their energy, counts
  and busy cycles per phase;
* :mod:`~archsim.hw.tile` — tile kinds (:class:`TileKind`; :class:`CrossbarTiles`, the analog
  crossbar tile; :class:`HybridTiles`, HyFlexPIM's arrays in SLC or MLC mode) and the cost of
  one operation (:class:`OpCost`), tile instances;
* one module per kind of unit: :mod:`~archsim.hw.crossbar` (the resistive array),
  :mod:`~archsim.hw.dac` (row DACs), :mod:`~archsim.hw.tia` (column TIAs),
  :mod:`~archsim.hw.adc` (column-multiplexed ADCs), :mod:`~archsim.hw.shift_add`
  (partial-sum merging), :mod:`~archsim.hw.buffer` (tile buffers),
  :mod:`~archsim.hw.controller` (the RISC-V-like in-order cores),
  :mod:`~archsim.hw.digital` (the vector units), :mod:`~archsim.hw.crossbar_group` (the
  arrays that step together, a SimPy process with a job port),
  :mod:`~archsim.hw.network_interface` (activations cut into packets, sent and received),
  :mod:`~archsim.hw.training` (pulse drivers, the update's digital unit, the
  write-and-verify engine), :mod:`~archsim.hw.dram` (off-chip DRAM channels, banks and row
  buffers: timing and energy per access), :mod:`~archsim.hw.imc` (the index-aware memory
  controller fetching block-CSR weights through a bounded prefetch buffer),
  :mod:`~archsim.hw.scu` (sparse compute units: MAC pipelines that skip or gate zeros, and
  the assignment of blocks to units), :mod:`~archsim.hw.digital_pim` (digital PIM modules:
  attention's dynamic products), :mod:`~archsim.hw.sfu` (special-function units: softmax,
  LayerNorm, GELU);
* :mod:`~archsim.hw.noc` — the network-on-chip: topology and hop table, deterministic routing,
  packet format, and the SimPy network of routers and links with credit flow control.

What runs on these units, record by record, is the simulation stage's (:mod:`archsim.sim`).
"""
