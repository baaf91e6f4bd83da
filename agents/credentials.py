"""Whether a model spec has what its provider needs to be called: checked before any call.

A missing key used to be found by the first call, which litellm failed as a server error
(retried four times, naming ``OPENAI_API_KEY`` whatever variable the config named), and a
run of such failures could exit 0. :func:`credential_problem` says it at once, naming the
config field or the provider's own variables.

The providers' variables are the ones litellm reads (``litellm.validate_environment``; a test
holds this table to it). They are listed here rather than asked of litellm because importing
litellm takes seconds, and ``safebench check`` answers a missing key in well under that.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import os
import re
from pathlib import Path

from agents.spec import ModelSpec

ANY_OF = tuple[str, ...]
"""Variables of which any one, set and not empty, will do."""

PROVIDER_VARIABLES: dict[str, tuple[ANY_OF, ...]] = {
    "openai": (("OPENAI_API_KEY",),),
    "anthropic": (("ANTHROPIC_API_KEY",),),
    "gemini": (("GEMINI_API_KEY", "GOOGLE_API_KEY"),),
    "azure": (("AZURE_API_KEY", "AZURE_AD_TOKEN"),),
    "mistral": (("MISTRAL_API_KEY",),),
    "groq": (("GROQ_API_KEY",),),
    "together_ai": (("TOGETHERAI_API_KEY", "TOGETHER_API_KEY"),),
    "cohere": (("COHERE_API_KEY",),),
    "deepseek": (("DEEPSEEK_API_KEY",),),
    "xai": (("XAI_API_KEY",),),
    "openrouter": (("OPENROUTER_API_KEY",),),
    "fireworks_ai": (("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY"),),
    "huggingface": (("HUGGINGFACE_API_KEY", "HF_TOKEN"),),
    "replicate": (("REPLICATE_API_KEY", "REPLICATE_API_TOKEN"),),
    "perplexity": (("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"),),
    "cerebras": (("CEREBRAS_API_KEY",),),
    "nvidia_nim": (("NVIDIA_NIM_API_KEY",),),
}
"""A key variable per provider: each tuple is one need, met by any of its variables."""

KEYLESS = frozenset(
    {"hosted_vllm", "ollama", "ollama_chat", "hf", "hf-classifier", "safebench", "lm_studio"}
)
"""Providers served without a key (local servers, in-process and offline models)."""


ROUTED_WITHOUT_PRICES = frozenset(
    {
        "hosted_vllm",
        "ollama_chat",
        "lm_studio",
        "openrouter",
        "huggingface",
        "vertex_ai_beta",
        "azure_ai",
        "litellm_proxy",
        "custom_openai",
        "openai_like",
        "text-completion-openai",
        "hf",
        "hf-classifier",
        "safebench",
    }
)
"""Prefixes litellm (or SafeBench itself) routes that its price map lists no model under."""


def provider_problem(spec: ModelSpec, where: str) -> str | None:
    """Why ``spec``'s provider prefix cannot be routed, or None: a typo'd prefix used to be
    found by the first call. The known prefixes are litellm's own (:func:`litellm_providers`)
    and those SafeBench routes itself."""
    known = litellm_providers()
    if not known:
        return None  # no list to read: the first call will tell
    if spec.provider in known | ROUTED_WITHOUT_PRICES | KEYLESS:
        return None
    near = difflib.get_close_matches(spec.provider, sorted(known), n=1, cutoff=0.75)
    meant = f"; did you mean {near[0]}/?" if near else ""
    return (
        f"{where}: {spec.model}: no provider {spec.provider!r} (litellm routes a model by its "
        f"prefix: openai/, anthropic/, gemini/, hosted_vllm/, ollama_chat/ …){meant}"
    )


@functools.cache
def litellm_providers() -> frozenset[str]:
    """The provider prefixes litellm routes (its ``LlmProviders`` enum), read from its source
    without importing litellm, which takes seconds; empty when the file is not found."""
    found = importlib.util.find_spec("litellm")
    if found is None or not found.submodule_search_locations:
        return frozenset()
    path = Path(next(iter(found.submodule_search_locations))) / "types" / "utils.py"
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        return frozenset()
    start = source.find("class LlmProviders(")
    if start < 0:
        return frozenset()
    lines = source[start:].splitlines()[1:]
    # The class body: every line up to the next one that is neither indented nor blank.
    body = []
    for line in lines:
        if line and not line[0].isspace():
            break
        body.append(line)
    body = "\n".join(body)
    return frozenset(re.findall(r'^\s+[A-Z0-9_]+\s*=\s*"([^"]+)"', body, re.MULTILINE))


def credential_problem(spec: ModelSpec, where: str) -> str | None:
    """What ``spec`` (the config's ``where``, e.g. ``jury.jurors[1]``) lacks to be called,
    or None. Never shows a key."""
    if spec.api_key is not None:
        if not spec.api_key.get_secret_value().strip():
            return f"{where}: api_key is empty ({spec.model})"
        return None
    if spec.api_key_env:
        if not os.environ.get(spec.api_key_env, "").strip():
            return (
                f"{where}: api_key_env names {spec.api_key_env}, which is not set (or empty) "
                f"in this environment ({spec.model}); export it, or fix the name"
            )
        return None
    provider = spec.provider
    if provider in KEYLESS or spec.is_offline or provider in AMBIENT:
        return None  # AMBIENT providers: see credential_warning
    needs = PROVIDER_VARIABLES.get(provider)
    if needs is None:
        return None  # a provider this table does not know: its first call will tell
    if provider == "openai" and spec.api_base is not None:
        return None  # an OpenAI-compatible server of one's own often takes no key
    missing = [need for need in needs if not any(_set(name) for name in need)]
    if provider == "azure":
        entra = all(_set(n) for n in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"))
        if entra or "azure_ad_token" in spec.params or "azure_ad_token_provider" in spec.params:
            missing = []  # Entra ID instead of a key
        if spec.api_base is None and not _set("AZURE_API_BASE"):
            missing.append(("AZURE_API_BASE",))
        # No AZURE_API_VERSION is no problem: litellm then sends its default version.
    if not missing:
        return None
    named = " and ".join(" or ".join(need) for need in missing)
    return (
        f"{where}: {spec.model} needs {named} in the environment (or api_key_env naming the "
        "variable that holds its key); none is set"
    )


AMBIENT = frozenset({"bedrock", "vertex_ai", "vertex_ai_beta"})
"""Providers whose credentials may come from where no check can see (an instance role, a
workload identity, the metadata server): missing ones are a warning, not an error."""


def credential_warning(spec: ModelSpec, where: str) -> str | None:
    """For a provider in :data:`AMBIENT`: the credentials this machine shows none of."""
    if spec.api_key is not None or spec.api_key_env:
        return None
    if spec.provider == "bedrock":
        found = _bedrock_problem(spec, where)
    elif spec.provider in ("vertex_ai", "vertex_ai_beta"):
        found = _vertex_problem(spec, where)
    else:
        return None
    if found is None:
        return None
    return f"{found} here (an instance role or workload identity would not show)"


def _set(name: str) -> bool:
    return bool(os.environ.get(name, "").strip())


def _bedrock_problem(spec: ModelSpec, where: str) -> str | None:
    # boto3's own chain: keys in the environment or the params, a profile, web identity,
    # or the shared files ~/.aws/credentials and ~/.aws/config.
    if _set("AWS_ACCESS_KEY_ID") and _set("AWS_SECRET_ACCESS_KEY"):
        return None
    named = ("aws_access_key_id", "aws_profile_name", "aws_role_name", "aws_web_identity_token")
    if any(name in spec.params for name in named) or _set("AWS_PROFILE"):
        return None
    if _set("AWS_SHARED_CREDENTIALS_FILE") or _set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        return None
    if _set("AWS_WEB_IDENTITY_TOKEN_FILE") or _set("AWS_BEARER_TOKEN_BEDROCK"):
        return None
    home = Path.home() / ".aws"
    if (home / "credentials").is_file() or (home / "config").is_file():
        return None
    return (
        f"{where}: {spec.model} needs AWS credentials: AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or ~/.aws/credentials); none is set"
    )


def _vertex_problem(spec: ModelSpec, where: str) -> str | None:
    missing = []
    if not (
        "vertex_project" in spec.params
        or _set("VERTEXAI_PROJECT")
        or _set("GOOGLE_CLOUD_PROJECT")
    ):
        missing.append("VERTEXAI_PROJECT (or params.vertex_project)")
    adc = Path.home() / ".config" / "gcloud" / "application_default_credentials.json"
    credentials = "vertex_credentials" in spec.params or _set("GOOGLE_APPLICATION_CREDENTIALS")
    if not credentials and not adc.is_file():
        missing.append("GOOGLE_APPLICATION_CREDENTIALS (or params.vertex_credentials)")
    if not missing:
        return None
    return f"{where}: {spec.model} needs {' and '.join(missing)}; none is set"
