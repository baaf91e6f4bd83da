"""structlog set-up for the CLI: quiet by default, to stderr, never to the progress bar."""

from __future__ import annotations

import logging
import sys

import structlog


def _current_stderr_logger(*_args: object) -> structlog.PrintLogger:
    # Looked up at each use, not at configure time: a CLI invoked in-process (tests, a
    # notebook) swaps sys.stderr and closes it afterwards, and a logger bound to the old
    # stream would raise on every later log line.
    return structlog.PrintLogger(file=sys.stderr)


def configure_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    # litellm and httpx log every request at INFO; a run makes thousands.
    for noisy in (
        "LiteLLM",
        "litellm",
        "httpx",
        "httpcore",
        "autogen_core",
        "autogen_agentchat",
        "aiohttp.access",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_current_stderr_logger,
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
    )
