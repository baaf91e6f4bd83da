"""Tiny random-weight checkpoints built on the fly, saved as real checkpoint directories.

Nothing is downloaded: a byte-level BPE tokenizer is trained on a few sentences, the models
are built from configs with a handful of hidden units, and everything is written with
``save_pretrained`` so that ``hf/<dir>`` loads it exactly as it would a real checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
    Qwen2AudioConfig,
    Qwen2AudioEncoderConfig,
    Qwen2AudioForConditionalGeneration,
    Qwen2AudioProcessor,
    Qwen2Config,
    WhisperFeatureExtractor,
)

CORPUS = [
    "hello world, this is a tiny model that answers questions",
    "the quick brown fox jumps over the lazy dog",
    "I cannot help with that request, but here is a safer idea",
    "here is how to bake bread step by step: first mix, then knead, finally bake",
    "describe the image and tell me what you see in the picture",
    "the answer is harmful when it gives real help with the harm",
    "system: you are a helpful assistant. user: assistant:",
]
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]

# Plain string content (a text-only template) and content lists (a multimodal one).
TEXT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
VISION_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: "
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for p in m['content'] %}"
    "{% if p['type'] == 'text' %}{{ p['text'] }}{% else %}<image>{% endif %}{% endfor %}"
    "{% endif %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)
AUDIO_TEMPLATE = VISION_TEMPLATE.replace("<image>", "<|audio_bos|><|AUDIO|><|audio_eos|>")
AUDIO_SPECIALS = ("<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>")


def tokenizer(template: str, extra_specials: tuple[str, ...] = ()) -> PreTrainedTokenizerFast:
    """A word-level tokenizer trained on ``CORPUS``, with ``template`` as its chat template.

    Word-level, so that random weights still decode to words separated by spaces, which is
    what lets a text streamer hand out more than one chunk.
    """
    core = Tokenizer(models.WordLevel(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = [*SPECIALS, *extra_specials]
    trainer = trainers.WordLevelTrainer(special_tokens=specials, show_progress=False)
    core.train_from_iterator(CORPUS, trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    if extra_specials:
        wrapped.add_special_tokens({"additional_special_tokens": list(extra_specials)})
    wrapped.chat_template = template
    return wrapped


def _llama(vocab: int, hidden: int = 32, layers: int = 2, **extra: object) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
        **extra,
    )


def build_text_model(directory: Path, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """A text-only LlamaForCausalLM with its tokenizer and chat template."""
    tok = tokenizer(TEXT_TEMPLATE)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(_llama(len(tok), hidden, layers))
    model.generation_config.eos_token_id = 2
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def build_llava_model(directory: Path, seed: int = 0) -> Path:
    """A LLaVA-style image-text model: a 2x2-patch CLIP tower, a tiny Llama, a processor."""
    tok = tokenizer(VISION_TEMPLATE)
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=28,
        patch_size=14,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=_llama(len(tok)),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = 2
    model.generation_config.pad_token_id = 3
    images = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    processor = LlavaProcessor(
        image_processor=images,
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=VISION_TEMPLATE,
    )
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_classifier(directory: Path, seed: int = 0) -> Path:
    """A two-class (safe, unsafe) LlamaForSequenceClassification with its tokenizer."""
    tok = tokenizer(TEXT_TEMPLATE)
    config = _llama(len(tok), num_labels=2, id2label={0: "safe", 1: "unsafe"})
    config.label2id = {"safe": 0, "unsafe": 1}
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(config)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def build_audio_model(directory: Path, seed: int = 0) -> Path:
    """A Qwen2-Audio-style audio-text model: a one-layer Whisper-like encoder, a tiny Qwen2."""
    tok = tokenizer(AUDIO_TEMPLATE, AUDIO_SPECIALS)
    text = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )
    encoder = Qwen2AudioEncoderConfig(
        num_mel_bins=16,
        encoder_layers=1,
        encoder_attention_heads=2,
        encoder_ffn_dim=64,
        d_model=32,
    )
    config = Qwen2AudioConfig(
        audio_config=encoder,
        text_config=text,
        audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config)
    model.generation_config.eos_token_id = 2
    model.generation_config.pad_token_id = 3
    processor = Qwen2AudioProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=16, return_attention_mask=True),
        tokenizer=tok,
        chat_template=AUDIO_TEMPLATE,
    )
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
