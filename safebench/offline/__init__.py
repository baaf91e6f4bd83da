"""The built-in offline stack: ``safebench/…`` jurors, simulated targets and judges.

Importing the package (any module of it) fills the offline catalogue below it
(:mod:`agents.offline_catalog`) with every built-in name: see :mod:`.catalog`.
"""

from safebench.offline import catalog as catalog  # registers the built-in names on import
