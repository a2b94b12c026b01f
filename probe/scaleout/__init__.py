"""Scale-out of the fleet evaluation on Dask (adapter: dask.dataframe, dask.distributed).

The same rule functions as ``probe evaluate`` (:func:`probe.compliance.fleet.evaluate_fleet`)
run on partitions that each hold whole subscribers; no parallelism of our own. Needs the
``fleet`` extra. See docs/fleet.md for when to switch.
"""
