"""Local transformers models run in process: loading, chat messages, micro-batching, jurors.

Imported only when a route names the ``hf`` transport (``hf/…`` or ``hf-classifier/…``
models), so torch and transformers stay out of every other run.
"""
