"""Token distribution: policies and presets (policy.py, presets.py), strategies (strategies.py), preview/execute
runs and their history (runs.py), the per-org run lock (lock.py). Import the submodules directly."""
