"""A second architecture end to end: Gemma 3 270M (a GGUF base without a chat template) trains, exports a
GGUF LoRA that llama.cpp applies as PEFT does, and serves.

The base comes from the test extra (tests/gemma_support.py). transformers de-quantises the GGUF into the
Gemma 3 network llama.cpp runs (norms stored with Gemma's +1, embeddings scaled by sqrt(hidden), tied
output, head_dim 256 with four heads of a 640 width, sliding-window layers, q/k norms): the logits of both
runtimes are compared past the 512-token window. The adapter's proof is the held-out NLL: through
llama.cpp the exported GGUF LoRA recovers nearly all of the drop PEFT measures on the same tokens, and the
Llama rule (the rotary Q/K permutation), forced on, does not.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from data_support import austen_paragraphs
from engine_support import GREEDY, embedded_config
from gemma_support import gemma_gguf
from job_support import make_voice
from lora_parity_support import corr, llama_logits, llama_nll, token_nll
from train_support import fast_settings

from voiced.trainer.dataset import Example
from voiced.trainer.tokenize import TokenizedExample, tokenize_example

ALL_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SYSTEM = "Austen."


@pytest.fixture(scope="module")
def gemma() -> Path:
    return gemma_gguf()


@pytest.fixture(scope="module")
def loaded(gemma: Path):
    """(model, tokenizer) as the trainer loads them: float32 on the CPU, voiced's template for a base without one."""
    from voiced.trainer.base_model import load_base_model

    return load_base_model(str(gemma))


def _paragraphs() -> list[str]:
    return [p for p in austen_paragraphs(min_words=15) if len(p.split()) < 45]


def _example(tokenizer, index: int, paragraph: str, split: str) -> TokenizedExample:
    """A rewrite example as the trainer tokenizes it: a four-word draft, the paragraph as the response."""
    draft = " ".join(paragraph.split()[:4])
    example = Example(f"p{index}", "rewrite", "paragraph", split, "persuasion.txt", (), SYSTEM, (draft,), (paragraph,))
    return tokenize_example(tokenizer, example)


def _peft_nll(model, held_out: list[TokenizedExample]) -> float:
    total = count = 0
    for example in held_out:
        with torch.no_grad():
            logits = model(torch.tensor([example.input_ids])).logits[0].double().numpy()
        nll, n = token_nll(logits, example.input_ids, example.labels)
        total, count = total + nll, count + n
    return total / count


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, gemma: Path, loaded) -> dict:
    """A real adapter (six PEFT steps on all seven projections), its Q/K-only variant, and the held-out NLL
    of base and adapter through PEFT and through llama.cpp with the GGUF LoRA exported by each rule."""
    from peft import PeftModel

    from voiced.trainer.gguf_lora import export_gguf_lora
    from voiced.trainer.training import train

    work = tmp_path_factory.mktemp("gemma")
    model, tokenizer = loaded
    paragraphs = _paragraphs()
    train_set = [_example(tokenizer, i, p, "train") for i, p in enumerate(paragraphs[:12])]
    valid_set = [_example(tokenizer, i, p, "valid") for i, p in enumerate(paragraphs[40:42])]
    held_out = [_example(tokenizer, i, p, "test") for i, p in enumerate(paragraphs[60:64])]
    settings = fast_settings(epochs=2, lora_rank=8, lora_alpha=32.0, lora_dropout=0.0, target_modules=ALL_MODULES)
    result = train(model, train_set, valid_set, settings, work / "run")
    assert result.steps == 6 and result.adapter_dir is not None

    peft_model = PeftModel.from_pretrained(model, result.adapter_dir).eval()
    out: dict = {"adapter_dir": result.adapter_dir, "held_out": held_out}
    with peft_model.disable_adapter():
        out["hf_base"] = _peft_nll(peft_model, held_out)
    out["hf_full"] = _peft_nll(peft_model, held_out)
    # The same adapter with every B but Q's and K's zeroed: only the Q/K layout decides what llama.cpp applies.
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name and not any(m in name for m in ("q_proj", "k_proj")):
                param.zero_()
    out["hf_qk"] = _peft_nll(peft_model, held_out)
    qk_dir = work / "qk"
    peft_model.save_pretrained(qk_dir, safe_serialization=True)
    peft_model.unload()  # the base model goes back to the other tests as it was

    exports = {
        "full": export_gguf_lora(result.adapter_dir, gemma, work / "full.gguf"),
        "qk": export_gguf_lora(qk_dir, gemma, work / "qk.gguf"),
        "qk_permuted": export_gguf_lora(qk_dir, gemma, work / "qk-permuted.gguf", permute_qk=True),
    }
    out["gguf"] = exports["full"]
    sequences = [(e.input_ids, e.labels) for e in held_out]
    out["ll_base"] = llama_nll(gemma, sequences)
    for name, path in exports.items():
        out[f"ll_{name}"] = llama_nll(gemma, sequences, path)
    return out


def _recovery(trained: dict, hf: str, ll: str) -> float:
    """The share of PEFT's held-out NLL drop that llama.cpp with the GGUF LoRA shows on the same tokens."""
    peft_drop = trained["hf_base"] - trained[hf]
    llama_drop = trained["ll_base"] - trained[ll]
    print(f"{ll}: PEFT drop {peft_drop:.4f} nats/token, llama.cpp drop {llama_drop:.4f}, {llama_drop / peft_drop:.2%}")
    return llama_drop / peft_drop


@pytest.mark.slow
def test_transformers_reads_the_gemma_gguf_as_llama_cpp_runs_it(gemma: Path, loaded) -> None:
    """No Gemma-specific loader is needed: past the sliding window the two runtimes predict alike."""
    model, tokenizer = loaded
    text = " ".join(_paragraphs()[100:140])
    ids = tokenizer(text).input_ids[:576]
    assert len(ids) == 576 and ids[0] == tokenizer.bos_token_id  # beyond the 512-token window
    with torch.no_grad():
        hf = model(torch.tensor([ids])).logits[0].double().numpy()
    ll = llama_logits(gemma, ids)
    agree = float(np.mean(hf.argmax(-1) == ll.argmax(-1)))
    hf_nll, n = token_nll(hf, ids, ids)
    ll_nll, _ = token_nll(ll, ids, ids)
    print(f"gemma base: logit_corr={corr(hf, ll):.4f}, argmax_agree={agree:.3f}, nll/token {hf_nll / n:.4f} (PEFT)")
    print(f"gemma base: nll/token {ll_nll / n:.4f} (llama.cpp)")
    assert corr(hf, ll) > 0.995
    assert agree >= 0.9
    assert abs(hf_nll - ll_nll) / n < 0.02
    # The late positions (sliding-window layers attend to the last 512 only) agree as well as the early ones.
    assert corr(hf[520:], ll[520:]) > 0.995


@pytest.mark.slow
def test_the_gguf_lora_recovers_the_nll_drop_peft_shows(trained: dict) -> None:
    assert trained["hf_base"] - trained["hf_full"] > 0.3, "the adapter must lower the held-out NLL clearly"
    assert _recovery(trained, "hf_full", "ll_full") >= 0.97


@pytest.mark.slow
def test_the_llama_rotary_permutation_is_wrong_for_gemma(trained: dict) -> None:
    """Q/K are not permuted for gemma3: the Q/K part of the adapter recovers with the gemma3 rule and is
    lost with Llama's."""
    assert trained["hf_base"] - trained["hf_qk"] > 0.2
    right = _recovery(trained, "hf_qk", "ll_qk")
    wrong = _recovery(trained, "hf_qk", "ll_qk_permuted")
    assert right >= 0.85
    assert wrong < 0.3
    assert right - wrong > 0.6


def test_an_untested_architecture_is_refused_not_exported(tmp_path: Path) -> None:
    """A GGUF LoRA in a layout nobody verified could be misapplied silently: the export says why it refuses."""
    import gguf

    from voiced.trainer.gguf_lora import GGUFExportError, export_gguf_lora, gguf_lora_unsupported_reason

    base = tmp_path / "qwen2.gguf"
    writer = gguf.GGUFWriter(str(base), "qwen2")
    writer.add_uint32("qwen2.attention.head_count", 4)
    writer.add_uint32("qwen2.embedding_length", 64)
    writer.add_uint32("qwen2.block_count", 1)
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((64, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert gguf_lora_unsupported_reason("gemma3") is None
    reason = gguf_lora_unsupported_reason("qwen2")
    assert reason and "qwen2" in reason
    with pytest.raises(GGUFExportError) as raised:
        export_gguf_lora(tmp_path / "adapter", base, tmp_path / "out.gguf")  # refused before the adapter is read
    assert reason in raised.value.message and raised.value.fix
    assert not (tmp_path / "out.gguf").exists()


@pytest.mark.slow
def test_training_and_serving_render_the_same_tokens_for_a_base_without_a_template(gemma: Path, loaded) -> None:
    """Gemma's own turn terms, rendered by transformers for training and by llama-cpp-python for serving."""
    from voiced.inference.llama_prompt import ChatPrompt
    from voiced.inference.llama_runtime import open_llama
    from voiced.prompts import GEMMA_TURN_END, GEMMA_TURNS_TEMPLATE

    _, tokenizer = loaded
    assert tokenizer.chat_template == GEMMA_TURNS_TEMPLATE  # the GGUF ships none
    paragraph = _paragraphs()[70]
    example = _example(tokenizer, 0, paragraph, "test")
    prompt_length = example.labels.count(-100)
    llm = open_llama(gemma, n_ctx=256)
    try:
        prompt = ChatPrompt(llm)
        served, stops = prompt.render(
            Example(
                "x", "rewrite", "paragraph", "test", "d", (), SYSTEM, (" ".join(paragraph.split()[:4]),), ()
            ).prompt_messages()
        )
        end = llm.tokenize(GEMMA_TURN_END.encode(), add_bos=False, special=True)
        import llama_cpp

        assert len(end) == 1 and llama_cpp.llama_vocab_is_eog(llm._model.vocab, end[0])  # the batcher stops on it
    finally:
        llm.close()
    assert served == example.input_ids[:prompt_length]
    assert served[0] == tokenizer.bos_token_id and served.count(tokenizer.bos_token_id) == 1
    assert tokenizer.decode(served[-3:]) == "<start_of_turn>model\n"
    # The response is trained up to and including the end-of-turn token, which is where serving stops.
    assert example.input_ids[-1] == end[0] and example.labels[-1] == end[0]
    assert GEMMA_TURN_END in stops


def test_the_draft_anchor_ends_on_the_formats_own_end_of_turn(gemma: Path) -> None:
    """Anchored decoding gives its end-of-turn bonus to Gemma's ``<end_of_turn>`` (and ``<eos>``), not to a
    piece of another format's marker."""
    from voiced.inference.llama_backend import LlamaBackend
    from voiced.prompts import GEMMA_TURN_END

    backend = LlamaBackend(gemma, n_ctx=256, n_threads=1)
    try:
        anchor = backend._anchor("The rain had stopped.", 2.0)
        (end,) = backend.llm.tokenize(GEMMA_TURN_END.encode(), add_bos=False, special=True)
        assert sorted(anchor.end_ids) == sorted({end, backend.llm.token_eos()})
    finally:
        backend.close()


@pytest.mark.slow
def test_the_engine_serves_gemma_with_the_exported_lora(gemma: Path, trained: dict) -> None:
    """Greedy, the adapted voice rewrites differently from the base; no turn marker leaks into the text."""
    from voiced.inference.engine import Engine

    config = embedded_config(gemma=str(gemma))
    config.voices["gemma"].system_prompt = SYSTEM  # the prompt the adapter was trained with
    draft = " ".join(_paragraphs()[2].split()[:4])  # a draft the adapter was trained on
    params = replace(GREEDY, max_tokens=160)
    with Engine(config, adapter_resolver=lambda voice: trained["gguf"] if voice == "gemma" else None) as engine:
        adapted = engine.rewrite("gemma", draft, params)
        assert engine.status()["gemma"].adapter == str(trained["gguf"])
        engine.set_adapter("gemma", None)
        base = engine.rewrite("gemma", draft, params)
    print(f"adapted: {adapted!r}\nbase: {base!r}")
    assert adapted.strip() and adapted != base
    assert "<end_of_turn>" not in adapted and "<start_of_turn>" not in adapted


@pytest.mark.slow
def test_a_trained_gemma_voice_records_its_llama_cpp_artifact(tmp_path: Path, gemma: Path) -> None:
    """The whole job on the Gemma base: its version names the GGUF LoRA llama.cpp serves and the PEFT folder."""
    from voiced.daemon.training_job import run_training_job
    from voiced.registry import Registry
    from voiced.trainer.serving import serving_runtime

    config = make_voice(tmp_path, documents=12, base_model=str(gemma))
    config.evaluation.gate_mode = "nll"
    result = run_training_job(config, "austen", overrides={"max_steps": 2})
    assert result.status in ("active", "rejected"), result.reason
    version = Registry.open("austen").get(result.version)
    assert version.artifacts.get("llama.cpp") == "adapter.gguf" and "transformers" in version.artifacts
    assert serving_runtime(str(gemma)) == "llama.cpp"
    version.validate()  # both read back
    import gguf

    reader = gguf.GGUFReader(str(version.artifact("llama.cpp")))
    assert reader.get_field("general.architecture").contents() == "gemma3"


def test_a_base_of_another_architecture_gets_the_plain_format_alike_in_both_runtimes() -> None:
    """The generic format: transformers (training) and llama-cpp-python (serving) render the same text, and
    the trained response ends with the model's end-of-sequence token, on which llama.cpp stops."""
    from llama_cpp import llama_chat_format

    from voiced.config import EMBEDDED_MODEL
    from voiced.prompts import PLAIN_TEMPLATE, template_for_base_without_one, turn_end
    from voiced.trainer.base_model import load_tokenizer

    assert template_for_base_without_one("qwen2") == PLAIN_TEMPLATE
    assert template_for_base_without_one("gemma3") != PLAIN_TEMPLATE
    tokenizer = load_tokenizer(EMBEDDED_MODEL)
    tokenizer.chat_template = PLAIN_TEMPLATE  # as if the embedded model shipped without a template
    paragraph = _paragraphs()[5]
    example = Example("x", "rewrite", "paragraph", "test", "d", (), SYSTEM, ("a rough draft",), (paragraph,))
    trained = tokenizer.apply_chat_template(example.prompt_messages(), tokenize=False, add_generation_prompt=True)
    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=PLAIN_TEMPLATE, eos_token=tokenizer.eos_token, bos_token=tokenizer.bos_token or ""
    )
    served = formatter(messages=example.prompt_messages())
    assert served.prompt == trained and trained.endswith("a rough draft\n\n### Response\n")
    assert turn_end(PLAIN_TEMPLATE, tokenizer.eos_token) == tokenizer.eos_token in served.stop
    tokens = tokenize_example(tokenizer, example)
    assert tokens.labels[-1] == tokens.input_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode([t for t in tokens.labels if t != -100]) == paragraph + tokenizer.eos_token


def test_a_reply_ends_at_the_templates_own_end_of_turn_marker() -> None:
    """A Gemma instruction model's template ends turns with <end_of_turn> while its EOS is <eos>; ChatML and
    Llama 3 templates with another EOS end at their markers; a template that writes none ends at the EOS."""
    from voiced.prompts import GEMMA_TURNS_TEMPLATE, PLAIN_TEMPLATE, turn_end

    google_style = (
        "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n"
        "{{ m['content'] }}<end_of_turn>\n{% endfor %}"
    )
    assert turn_end(google_style, "<eos>") == "<end_of_turn>"
    assert turn_end(GEMMA_TURNS_TEMPLATE, "<eos>") == "<end_of_turn>"
    assert (
        turn_end("{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>\n{% endfor %}", "</s>")
        == "<|im_end|>"
    )
    assert turn_end("{{ m['content'] }}<|eot_id|>", "<|end_of_text|>") == "<|eot_id|>"
    assert turn_end(PLAIN_TEMPLATE, "</s>") == "</s>" and turn_end(None, "</s>") == "</s>"
