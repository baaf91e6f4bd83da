"""The jury inside other harnesses: an inspect-ai scorer and a promptfoo assertion.

Both hand each answer the harness produced to one place (:mod:`.clerk`), which files it in a
SafeBench store as a case and judges it with ``jury.case.judge_case``, through the gateway
caching in that store: a re-run reads finished cases and recorded calls back. Nothing here is
imported by the command line; inspect-ai is imported only by the inspect modules (the
``inspect`` extra).
"""
