"""The vectorised fast engine (issue 12): whole blocks of requests as numpy arrays, no events.

Eligible configurations (no churn, routing that does not depend on the system's
state, per-request connections, no retries) are simulated block by block:
arrivals drawn in blocks, routing and latencies added as arrays, and each pod's
queue computed by a recursion over its arrivals (:mod:`netsim.fast.queues`).
Nothing is imported here, so ``import netsim`` stays cheap; numba is imported
only when a block needs the general queue kernel.
"""
