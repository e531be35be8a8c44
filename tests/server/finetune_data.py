"""Training files for the fine-tuning job tests: DPO pairs in OpenAI's preference format, as JSON lines."""

from __future__ import annotations

import json


def dpo_pairs(count: int) -> list[dict]:
    """`count` prompts, each with a TL;DR answer preferred over a refusal."""
    return [
        {
            "input": {"messages": [{"role": "user", "content": f"Tell me about topic {i}."}]},
            "preferred_output": [{"role": "assistant", "content": f"TL;DR: topic {i} matters.\nIt matters a lot."}],
            "non_preferred_output": [{"role": "assistant", "content": f"I cannot say anything about topic {i}."}],
        }
        for i in range(count)
    ]


def jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()
