"""Tiny Qwen2 models and their tokenizer, built locally with no download.

- `build_tiny_model`: random weights ("tiny-random-qwen2" is a built-in model name), for the test suite, the
  benchmarks and quick demos. Its outputs are noise, but every code path (chat template, tool parsing, LoRA, TRL
  trainers, saving, loading) runs exactly as with a real Qwen2 model, in a fraction of a second.
- `build_pinned_model`: weights set by hand so that greedy decoding writes given replies, whatever CPU kernels,
  thread counts or library versions do to the last bits of the arithmetic, and even after a short LoRA fine-tune.
  Tests of the flow (load_agent, the chat CLI, the app) drive the real code paths with it and can assert on what
  the agent says, which they cannot do with a model trained in-test (see `build_pinned_model`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>"]

# A small corpus that covers chat markup, JSON tool calls and plain English, so common pieces become single tokens.
_CORPUS = [
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is the weather?<|im_end|>\n",
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}',
    '{"type": "function", "function": {"name": "search", "description": "Search the web", "parameters": '
    '{"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}',
    "The quick brown fox jumps over the lazy dog. 0123456789 true false null [] {} () , . : ; ! ?",
    "tool response answer question please call the function with these arguments and return a result",
]


def _chat_template() -> str:
    # TRL's bundled Qwen2.5 template, byte for byte: TRL then recognises it and parses <tool_call> blocks.
    import trl

    return (Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja").read_text()


def build_tiny_tokenizer(vocab_size: int = 1024):
    """Train a byte-level BPE with Qwen2's normalizer and split regex and wrap it as a Qwen2 tokenizer."""
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=state["vocab"], merges=merges)
    tokenizer.add_special_tokens({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    tokenizer.add_tokens(["<tool_call>", "</tool_call>"], special_tokens=False)
    tokenizer.chat_template = _chat_template()
    return tokenizer


def build_tiny_model(out_dir: str | Path, *, seed: int = 0, hidden_size: int = 64, num_layers: int = 2) -> Path:
    """Write a tiny random Qwen2 causal LM and its tokenizer to `out_dir` and return the folder.

    Args:
        out_dir: Folder to write (created if missing).
        seed: Seed for the random weights, so two builds are identical.
        hidden_size: Width of the model.
        num_layers: Number of decoder layers.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# The pinned model: one decoder layer whose attention raises a "phase" direction of the residual stream once the
# context holds a tool result, and an output layer that maps (phase, current token) to the next token of a reply.
# Every margin is tens of logits, while kernels differ by ~1e-6 of a logit. LoRA adapts the linear layers only, so
# their inputs are kept tiny next to the residual stream (a token's embedding is _RESIDUAL): the norms in front of
# the attention and the MLP have weight _NORM, and o_proj reads a value of size 1. Whatever a few hundred LoRA steps
# learn then moves the residual by ~1e-6 of its size, and the replies stay pinned.
_RESIDUAL = 1e6
_NORM = 1e-6
_SCORE = 40.0  # query and key size: score 40*40/sqrt(64) = 200 on a tool-result token (hidden 64), 0 elsewhere
_LOGIT = 20.0  # output scale: the chosen token leads the runner-up by >= 20 * sqrt(hidden / 2) logits
RUNNER_UP_GAIN = 10.0  # logits a runner-up's first token gains per unit of silu(gate) of its MLP unit
PINNED_PHASE_TOKEN = "<tool_response>"  # as in Qwen2.5's vocabulary, one token (the tiny tokenizer splits it)


def _pin_reply(tokenizer, reply: str) -> list[int]:
    """Token ids for `reply` in which every piece between the tokenizer's added tokens is one token (added to the
    tokenizer when BPE would split it), so the reply is a short chain of distinct tokens."""
    added = sorted(tokenizer.get_added_vocab(), key=len, reverse=True)
    pieces = [p for p in re.split("(" + "|".join(map(re.escape, added)) + ")", reply) if p]
    new = [p for p in pieces if p not in added and len(tokenizer.encode(p, add_special_tokens=False)) != 1]
    if new:
        tokenizer.add_tokens(list(dict.fromkeys(new)), special_tokens=False)
    ids = [tokenizer.convert_tokens_to_ids(p) if p in tokenizer.get_added_vocab() else
           tokenizer.encode(p, add_special_tokens=False)[0] for p in pieces]
    if tokenizer.decode(ids) != reply:
        raise ValueError(f"reply {reply!r} does not decode back from its pinned tokens")
    return ids


def build_pinned_model(out_dir: str | Path, *, first_reply: str, after_tool_reply: str, hidden_size: int = 64,
                       runner_up: str | None = None, runner_up_gap: float = 3.0) -> Path:
    """Write a tiny Qwen2 model whose greedy replies are fixed by construction, and its tokenizer, to `out_dir`.

    Asked to continue a chat (the generation prompt `<|im_start|>assistant\\n`), it writes `first_reply` while the
    conversation holds no tool result, and `after_tool_reply` once it does (a `<tool_response>` block, which the chat
    template writes for every tool message), each followed by `<|im_end|>`. It is a real Qwen2 checkpoint: the chat
    template, tool parsing, LoRA training, publishing and `load_agent` run on it as on any model. The replies hold
    under any CPU kernels and thread counts (every margin is tens of logits) and after LoRA fine-tuning of a few
    hundred steps (LoRA's inputs are scaled down), so a test can assert on them; what a model trained in-test writes
    depends on the last bits of the arithmetic and cannot be asserted on.

    The tokenizer is the tiny model's, plus `<tool_response>`/`</tool_response>` as single tokens (as in Qwen2.5)
    and one token for each piece of a reply between its tags (e.g. the JSON of a tool call).

    With `runner_up`, the model knows a second first reply and ranks it `runner_up_gap` logits below `first_reply`
    at the reply's first token; once started, either reply is written to its end. One MLP unit, fed by the token
    that ends the generation prompt, can close the gap: it is silent (its gate is 0, and silu(0) = 0) until a LoRA
    adapter on `gate_proj` opens it, and each unit of its gate then adds about `RUNNER_UP_GAIN` logits to the
    runner-up's first token. So training (SFT, GRPO) can move the model from its first reply to the runner-up (e.g.
    from a bare-JSON call to the tagged form of the same call), and a test can check which one it then writes,
    greedily, on any CPU: nothing else of the model is within reach of LoRA.

    Args:
        out_dir: Folder to write (created if missing).
        first_reply: What the model writes when no tool has answered yet, e.g. a tagged tool call.
        after_tool_reply: What it writes after a tool result, e.g. a final answer.
        hidden_size: Width of the model (room for the replies' tokens: at most hidden_size - 5 in all, one fewer
            with a runner-up).
        runner_up: A second first reply, ranked just below `first_reply` (None: none).
        runner_up_gap: How far below, in logits of its first token (well above the kernels' ~1e-6, well below the
            tens of logits that pin everything else).

    Raises:
        ValueError: a reply is empty, uses a token twice or a token the construction reserves, or is too long.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    if not first_reply or not after_tool_reply:
        raise ValueError("both replies must be non-empty")
    tokenizer = build_tiny_tokenizer()
    tokenizer.add_tokens([PINNED_PHASE_TOKEN, "</tool_response>"], special_tokens=False)
    # The runner-up first: a piece of it may hold the first reply whole (a call's JSON, bare vs inside tags), and a
    # piece added later would split it.
    second = _pin_reply(tokenizer, runner_up) if runner_up else []
    first = _pin_reply(tokenizer, first_reply)
    after = _pin_reply(tokenizer, after_tool_reply)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "?"}], add_generation_prompt=True,
                                           tokenize=True, return_dict=False)
    start, eos, phase_token = prompt[-1], tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(PINNED_PHASE_TOKEN)
    chain = first + after + second
    reserved = {start, eos, phase_token}
    if len(set(chain)) != len(chain) or reserved & set(chain):
        raise ValueError("the replies must not repeat a token nor use the chat template's own tokens (a piece like "
                         f"'\\n' alone): {tokenizer.convert_ids_to_tokens(chain)}")
    # Residual stream directions: 0 phase, 1 any other token, 2 the phase token, 3 the prompt's last token,
    # then one per reply token and one for <|im_end|>.
    phase_dim, other_dim, response_dim, start_dim = 0, 1, 2, 3
    own = {token: 4 + i for i, token in enumerate([*chain, eos])}
    runner_dim = 4 + len(own)  # the runner-up's learnable vote (with a runner-up)
    if 4 + len(own) + bool(second) > hidden_size:
        raise ValueError(f"the replies are too long for hidden_size {hidden_size}: {len(chain)} tokens")
    # The next token after each token, whatever the phase; after <|im_end|> the template writes '\n'.
    successor = {a: b for reply in (first, after, second) if reply
                 for a, b in zip(reply, [*reply[1:], eos], strict=True)}
    successor[eos] = start

    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size, num_hidden_layers=1,
        num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=4096, tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6}, eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id)
    model = Qwen2ForCausalLM(config)
    scale = hidden_size ** 0.5  # RMSNorm maps a residual with one non-zero coordinate to sqrt(hidden) there
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        embed = model.model.embed_tokens.weight
        embed[:, other_dim] = _RESIDUAL
        for token, dim in [(start, start_dim), (phase_token, response_dim), *own.items()]:
            embed[token].zero_()
            embed[token, dim] = _RESIDUAL
        layer = model.model.layers[0]
        layer.input_layernorm.weight.fill_(_NORM)
        layer.post_attention_layernorm.weight.fill_(_NORM)  # the MLP stays zero; LoRA there sees ~1e-5 inputs
        model.model.norm.weight.fill_(1.0)
        # Attention: a constant query meets a key only on the phase token; only that token carries a value, which
        # o_proj writes into the phase direction. Query and key use the slowest rotary pair (about 1e-6 rad per
        # position), so the score is the same at any distance.
        slow = hidden_size // 2 - 1
        attention = layer.self_attn
        attention.q_proj.bias[slow] = _SCORE
        attention.k_proj.weight[slow, response_dim] = _SCORE / (scale * _NORM)
        attention.v_proj.weight[0, response_dim] = 1.0 / (scale * _NORM)
        attention.o_proj.weight[phase_dim, 0] = _RESIDUAL
        # Output: each token votes for its successor (2x), the prompt's last token for the first reply unless the
        # phase is up, and the phase for the reply after a tool result. Other tokens end the turn.
        head = model.lm_head.weight
        for token, nxt in successor.items():
            head[nxt, own[token]] = 2 * _LOGIT
        head[eos, other_dim] = 2 * _LOGIT
        head[first[0], start_dim] += _LOGIT
        head[first[0], phase_dim] -= _LOGIT
        head[after[0], phase_dim] += _LOGIT
        if second:  # voted for like the first reply, runner_up_gap logits less (the normed start token is `scale`)
            head[second[0], start_dim] += _LOGIT - runner_up_gap / scale
            head[second[0], phase_dim] -= _LOGIT
            # The learnable vote: MLP unit 0 reads the start token (its norm weight opened there, up_proj 1 after
            # it), its gate is 0, and down_proj writes its output into runner_dim, which votes for the runner-up.
            # The residual there is ~_RESIDUAL, so the final norm scales runner_dim by scale / _RESIDUAL.
            layer.post_attention_layernorm.weight[start_dim] = 1.0
            layer.mlp.up_proj.weight[0, start_dim] = 1.0 / scale
            layer.mlp.down_proj.weight[runner_dim, 0] = RUNNER_UP_GAIN * _RESIDUAL / (_LOGIT * scale)
            head[second[0], runner_dim] = _LOGIT
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id, do_sample=False)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
