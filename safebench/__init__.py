"""SafeBench: safety evaluation of multimodal LLMs with a deliberating jury."""

# Nothing is imported or set here: importing SafeBench changes no other library (litellm is
# set up by ``agents.llm`` when a model call first needs it).

__version__ = "0.1.0"
