"""``netsim verify``: the simulator against queueing theory and published measurements.

- :mod:`netsim.verify.registry`: what a case is, and the registry new cases join;
- :mod:`netsim.verify.analytic`, :mod:`netsim.verify.published`: the cases;
- :mod:`netsim.verify.runner`: runs them through :func:`netsim.run_experiment` and judges each line
  (:mod:`netsim.verify.statistics`);
- :mod:`netsim.verify.tables`, :mod:`netsim.verify.document`: the console table, validation.md, validation.csv.

From Python: ``netsim.verify.runner.verify("quick")`` returns a report whose ``rows`` carry each verdict.
"""
