#!/usr/bin/env python3
"""make_chat_cases.py — oracle for lorac's chat templates.

Renders conversations with transformers' apply_chat_template (Jinja) for the
real templates of SmolLM2-Instruct (read from the GGUF when present, else the
copy below, which must match it), a plain ChatML, Qwen2-style ChatML,
Llama-2-chat, Llama-3-Instruct, Gemma 2 (google/gemma-2-2b-it) and Gemma 3
(google/gemma-3-*-it tokenizer_config.json; Gemma 3 270M's GGUF carries no
template, lorac falls back to its built-in "gemma"), and writes them as JSON for test_chat.c:
[{"template", "kind", "messages", "gen", "expected" | "error"}].

Usage: make_chat_cases.py OUT_JSON [GGUF] [TOKENIZER_JSON]
"""
import json
import os
import sys

from transformers import PreTrainedTokenizerFast

SMOLLM2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
           "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
           "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
           "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
           "{{ '<|im_start|>assistant\n' }}{% endif %}")
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
          " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\\n' }}{% endif %}")
QWEN2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
         "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
         "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
         "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
LLAMA2 = ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
          "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
          "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
          "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
          "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
          "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
          "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
          "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
          "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
          "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")
LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
          "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim"
          " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
          "{{ content }}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")
# Gemma 2 (google/gemma-2-2b-it): refuses a system message.
GEMMA2 = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
          "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
          "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
          "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
          "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}")
# Gemma 3 (google/gemma-3-*-it tokenizer_config.json "chat_template"): a system
# message becomes the first user turn's prefix.
GEMMA3 = (
    "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n{%- endif -%}\n{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n    {%- if (message['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n        {%- set role = message['role'] -%}\n    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n        {%- endfor -%}\n    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n    {%- endif -%}\n    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n{%- if add_generation_prompt -%}\n    {{'<start_of_turn>model\\n'}}\n{%- endif -%}\n")
# Not a Gemma template lorac knows: no 'model' role (must be refused).
GEMMA = ("{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + message['role'] + '\\n' + "
         "message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}")

CONVS = [
    [{"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there!"},
     {"role": "user", "content": "Who are you?"}, {"role": "assistant", "content": "A model."}],
    [{"role": "system", "content": "  Be kind.\n"}, {"role": "user", "content": " padded \n"},
     {"role": "assistant", "content": "\n answer with spaces  "}, {"role": "user", "content": "ok"}],
    [{"role": "user", "content": "Multi\nline\n\ncontent — ünïcödé 😀 한국어"},
     {"role": "assistant", "content": "Line 1\nLine 2"}],
    # Unicode whitespace: Jinja's trim / str.strip() remove it (U+3000, U+00A0, U+2003, U+0085)
    [{"role": "system", "content": "\u3000sys\u00a0"}, {"role": "user", "content": "\u3000 q\u00a0\u2003\x85"},
     {"role": "assistant", "content": " a\t"}],
]
BAD = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]


def main():
    out = sys.argv[1]
    smollm = SMOLLM2
    if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
        import gguf
        f = gguf.GGUFReader(sys.argv[2]).fields.get("tokenizer.chat_template")
        if f is not None:
            assert f.contents() == SMOLLM2, "SmolLM2 GGUF chat template changed"
            smollm = f.contents()
    tok_json = sys.argv[3] if len(sys.argv) > 3 else None
    templates = [("chatml", smollm, "<s>", "</s>"), ("chatml", CHATML, "<s>", "</s>"),
                 ("chatml", QWEN2, "<s>", "</s>"), ("llama2", LLAMA2, "<s>", "</s>"),
                 ("llama3", LLAMA3, "<|begin_of_text|>", "<|eot_id|>"),
                 ("gemma", GEMMA2, "<bos>", "<eos>"), ("gemma", GEMMA3, "<bos>", "<eos>")]
    cases = []
    for kind, tmpl, bos, eos in templates:
        tok = PreTrainedTokenizerFast(tokenizer_file=tok_json, bos_token=bos, eos_token=eos)
        for conv in CONVS + [BAD]:
            for gen in (False, True):
                c = {"template": tmpl, "kind": kind, "messages": conv, "gen": gen}
                try:
                    c["expected"] = tok.apply_chat_template(conv, chat_template=tmpl,
                                                            tokenize=False,
                                                            add_generation_prompt=gen)
                except Exception as e:  # llama2 refuses non-alternating roles
                    c["error"] = str(e)
                cases.append(c)
    cases.append({"template": GEMMA, "kind": None, "messages": CONVS[0], "gen": False,
                  "error": "unrecognised"})
    with open(out + ".tmp", "w") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
    os.replace(out + ".tmp", out)
    print("make_chat_cases: %d cases -> %s" % (len(cases), out))


if __name__ == "__main__":
    main()
