"""meshshift: a durable blue/green cutover between service meshes on AWS, built on Temporal.

The installed package ``meshshift`` gathers the repository's top-level folders as its subpackages
(pyproject.toml maps them with setuptools' ``package-dir``):

- ``meshshift.migration``: the pure domain (spec, plan, translation, weights, edge mechanisms);
- ``meshshift.workflows``: deterministic orchestration only;
- ``meshshift.activities``: I/O only, one module per AWS area;
- ``meshshift.workers``: process wiring and entry points (the CLI, the worker, the alarm bridge);
- ``meshshift.sim``: the simulated AWS and the demo, a test and demo double.
"""
