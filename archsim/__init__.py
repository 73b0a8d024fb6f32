"""archsim: a cycle-level discrete-event simulator for compute-in-memory accelerators.

The package follows the simulation pipeline, one subpackage per stage:
config -> workload (networks, traces) -> mapping -> hw (SimPy components) -> sim (engine)
-> stats -> energy -> report -> dse.
"""

__version__ = "0.1.0"
