"""Workload stage: NumPy networks, the model zoo, training, activation statistics and traces.

Modules: :mod:`~archsim.workload.layers` (layers with forward/backward),
:mod:`~archsim.workload.models` (network DAGs, zoo), :mod:`~archsim.workload.data` (offline inputs),
:mod:`~archsim.workload.train` (SGD training), :mod:`~archsim.workload.activity` (activation
quantisation and bit-plane statistics), :mod:`~archsim.workload.trace` (trace file format) and
:mod:`~archsim.workload.export` (model -> trace), :mod:`~archsim.workload.devices` (memory
devices: soft-bounds pulsed devices, multi-level cells with write-and-verify),
:mod:`~archsim.workload.analog_update` (on-chip update algorithms on one matrix),
:mod:`~archsim.workload.analog_train` (on-chip training of zoo models and its trace),
:mod:`~archsim.workload.synthetic` (training traces under Rasch et al.'s Table 1 assumptions),
:mod:`~archsim.workload.sparse_train` (block-sparse dynamic training, block-CSR)
:mod:`~archsim.workload.functional` (a network's outputs on crossbars: hardware-aware
accuracy), :mod:`~archsim.workload.transformer` (``vit-tiny``: a vision transformer in NumPy),
:mod:`~archsim.workload.transformer_export` (its trace, and shape-only BERT encoders') and
:mod:`~archsim.workload.redistribution` (HyFlexPIM's gradient redistribution: SVD, SLC
choice, MLC read noise). Import from the submodules; this package module
imports none of them, so importing one stage module stays cheap and cycle-free.
"""
