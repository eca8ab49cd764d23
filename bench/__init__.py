"""meshshift benchmarks: rollback reaction, step overhead, large migrations, many migrations.

``make bench`` (``python -m bench``) runs them against the embedded Temporal dev server and the
simulated AWS (moto + meshshift's extensions), each in its own process, with the meshshift worker
in a third process so that its CPU and memory can be measured on their own. The floor of every
timing is measured in the same run: the same AWS calls made directly with boto3, without Temporal.
Results go to ``bench/results.json``; ``docs/performance.md`` summarises them.
"""
