"""Tiny random-weight checkpoints of the published judges' architectures, built in memory.

Llama (HarmBench's classifier, Llama Guard 3), Gemma 2 (ShieldGemma) and Mllama (Llama Guard
3 Vision), each a few hidden units wide and saved with ``save_pretrained`` beside a word-level
tokenizer whose vocabulary holds the formats' answer words, so ``hf-classifier/<dir>`` loads
and scores them exactly as it would the real checkpoints. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    Gemma2Config,
    Gemma2ForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MllamaConfig,
    MllamaForConditionalGeneration,
    MllamaProcessor,
    PreTrainedTokenizerFast,
)

from tests.agents.tiny_models import CORPUS

ANSWER_WORDS = "unsafe safe Yes No S1 S14 User Agent Request Response"
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<|image|>"]
SHAPE = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 3,
}


def judge_tokenizer() -> PreTrainedTokenizerFast:
    core = Tokenizer(models.WordLevel(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIALS, show_progress=False)
    core.train_from_iterator([*CORPUS, ANSWER_WORDS], trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<|image|>"},
    )


def build_llama_judge(directory: Path, seed: int = 0) -> Path:
    tok = judge_tokenizer()
    torch.manual_seed(seed)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), **SHAPE)).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def build_gemma_judge(directory: Path, seed: int = 0) -> Path:
    tok = judge_tokenizer()
    torch.manual_seed(seed)
    config = Gemma2Config(vocab_size=len(tok), head_dim=16, **SHAPE)
    Gemma2ForCausalLM(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def build_mllama_judge(directory: Path, seed: int = 0) -> Path:
    from transformers import MllamaImageProcessor

    tok = judge_tokenizer()
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_global_layers": 1,
        "attention_heads": 2,
        "image_size": 28,
        "patch_size": 14,
        "max_num_tiles": 1,
        "supported_aspect_ratios": [[1, 1]],
        "intermediate_layers_indices": [0],
        "vision_output_dim": 64,
    }
    text = {**SHAPE, "vocab_size": len(tok) + 8, "cross_attention_layers": [1]}
    config = MllamaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tok.convert_tokens_to_ids("<|image|>"),
    )
    torch.manual_seed(seed)
    model = MllamaForConditionalGeneration(config)
    with torch.no_grad():
        # Cross-attention gates start at 0 (tanh(0): the image is ignored until trained);
        # opened here so that what the tower sees reaches the next token.
        for name, parameter in model.named_parameters():
            if name.endswith(("cross_attn_attn_gate", "cross_attn_mlp_gate")):
                parameter.fill_(1.0)
    model.save_pretrained(directory)
    images = MllamaImageProcessor(size={"height": 28, "width": 28}, max_image_tiles=1)
    MllamaProcessor(image_processor=images, tokenizer=tok).save_pretrained(directory)
    return directory
