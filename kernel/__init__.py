"""The kernel: typed records, errors, the ballot format, registries, YAML and validation
helpers, secrets and logging. It imports nothing else of SafeBench, and everything below the
command line takes only this from ``safebench``."""
