"""Executors that run a run's cases somewhere other than this process: ``ray_run`` (actors on
a Ray cluster, ``executor: ray``). ``safebench.run.workers`` (processes on this machine) shares its
parent and shard logic with them."""
