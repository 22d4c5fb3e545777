"""The SimPy world: nodes and pods, kube-proxy, DNS, clients, and the network between them.

Nothing here imports pandas or matplotlib: the model writes numpy columns
through :mod:`netsim.recorder`, and everything tabular happens after the run.
"""
