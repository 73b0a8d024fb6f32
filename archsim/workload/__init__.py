"""Workload stage: NumPy networks, the model zoo, training, activation statistics and traces.

Modules: :mod:`~archsim.workload.layers` (layers with forward/backward),
:mod:`~archsim.workload.models` (network DAGs, zoo), :mod:`~archsim.workload.data` (offline inputs),
:mod:`~archsim.workload.train` (SGD training), :mod:`~archsim.workload.activity` (activation
quantisation and bit-plane statistics), :mod:`~archsim.workload.trace` (trace file format) and
:mod:`~archsim.workload.export` (model -> trace). Import from the submodules; this package module
imports none of them, so importing one stage module stays cheap and cycle-free.
"""
