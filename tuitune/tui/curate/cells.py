"""How a judged answer reads in the curate table and in the exchange view: rich Text over textsafe strings, never
markup, so whatever an answer holds shows as the characters it is."""

from __future__ import annotations

from rich.text import Text

from tuitune.store import BASE, CurateCounts, CurateRow
from tuitune.store.records import GENERATED_SOURCES, Message
from tuitune.textsafe import one_line, visible

# Columns whose width stays put; the conversation, the prompt and the answer share what the terminal has left.
FIXED = (("judged", 4), ("by", 8), ("date", 5), ("feeds", 5), ("used", 4))
ORDER = ("conversation", "prompt", "answer", "judged", "by", "date", "feeds", "used")
PADDING = 2  # DataTable's cell padding, one each side


def column_widths(total: int) -> dict[str, int]:
    widths = dict(FIXED)
    room = total - sum(widths.values()) - PADDING * len(ORDER) - 2  # the scrollbar
    widths["conversation"] = max(8, room // 6)
    widths["prompt"] = max(10, room * 2 // 6)
    widths["answer"] = max(14, room - widths["conversation"] - widths["prompt"])
    return widths


def feeds_cell(row: CurateRow, held: bool = False) -> Text:
    if row.excluded:
        return Text("excl", style="red")
    if held:  # a held-out turn: measures every adapter, trains none
        return Text("held", style="cyan")
    return Text(
        "".join(letter if method in row.feeds else "·" for method, letter in (("sft", "S"), ("dpo", "D"), ("kto", "K")))
    )


def judgement_cell(judgement: str | None, excluded: bool = False) -> Text:
    style = {"good": "green", "bad": "red"}.get(judgement or "", "")
    return Text(judgement or "—", style=f"{style} strike" if excluded else style)


def row_cells(row: CurateRow, widths: dict[str, int], held: bool = False) -> list[Text]:
    dim = "dim" if row.excluded else ""
    cells = {
        "conversation": Text(one_line(row.conversation_title or "untitled", widths["conversation"]), style=dim),
        "prompt": Text(one_line(row.prompt_excerpt, widths["prompt"]), style=dim),
        "answer": Text(one_line(row.answer_excerpt, widths["answer"]), style=dim),
        "judged": judgement_cell(row.judgement, row.excluded),
        "by": Text(one_line(row.writer, widths["by"]), style=dim),
        "date": Text(row.created_at[5:10], style="dim"),
        "feeds": feeds_cell(row, held),
        "used": Text("✓" if row.used else ""),
    }
    return [cells[name] for name in ORDER]


def counts_text(counts: CurateCounts | None, held_turns: int = 0) -> Text:
    if counts is None:
        return Text("counting…", style="italic dim")
    line = Text()
    line.append(f"{counts.judged:,} judged", style="bold")
    if held_turns:
        line.append(f" · {held_turns:,} prompts held out", style="cyan")
    line.append(f" · {counts.excluded:,} excluded · {counts.used:,} used in a run   ")
    line.append("SFT ", style="bold")
    line.append(f"{counts.sft:,}   ")
    line.append("DPO ", style="bold")
    line.append(f"{counts.dpo:,} pairs ({counts.dpo_answers:,} answers)   ")
    line.append("KTO ", style="bold")
    line.append(f"{counts.kto:,}: {counts.kto_good:,} good / {counts.kto_bad:,} bad")
    balance = counts.kto_balance
    if balance is not None:
        lopsided = not 0.3 <= balance <= 0.7
        line.append(f" ({balance:.0%} good)", style="yellow" if lopsided else "")
    return line


def exchange_text(path: list[Message], focus_id: int) -> Text:
    """The whole exchange down to the answer, each turn headed by who wrote it."""
    text = Text()
    for message in path:
        who: str = message.role
        if message.role == "assistant":
            writer = message.adapter or (BASE if message.source in GENERATED_SOURCES else message.source)
            who += f" · {writer}"
            if message.judgement:
                who += f" · {message.judgement}"
            if message.excluded:
                who += " · excluded"
        style = "bold reverse" if message.id == focus_id else "bold"
        text.append(one_line(who), style=style)
        text.append("\n")
        text.append(visible(message.content))
        text.append("\n\n")
    text.rstrip()
    return text
