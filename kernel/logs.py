"""structlog set-up for the CLI: quiet by default, to stderr, never to the progress bar."""

from __future__ import annotations

import logging
import sys

import structlog

from kernel import secrets


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
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, SecretScrubber) for f in handler.filters):
            handler.addFilter(SecretScrubber())
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_current_stderr_logger,
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            _scrubbed(
                structlog.dev.ConsoleRenderer(
                    colors=False,
                    # rich's traceback shows every frame's locals, and a frame that holds a
                    # route or a config shows its key: tracebacks are rendered plain.
                    exception_formatter=structlog.dev.plain_traceback,
                )
            ),
        ],
    )


def _scrubbed(renderer: structlog.types.Processor) -> structlog.types.Processor:
    """``renderer``, with every known secret value masked in the line it renders."""

    def render(logger: object, name: str, event_dict: structlog.types.EventDict) -> str:
        return secrets.scrub(str(renderer(logger, name, event_dict)))

    return render


class SecretScrubber(logging.Filter):
    """Masks known secret values in stdlib log records (litellm's and httpx's included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = secrets.scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_text is None:
            record.exc_text = secrets.scrub(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = secrets.scrub(record.exc_text)
        return True
