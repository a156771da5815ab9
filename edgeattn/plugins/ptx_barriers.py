"""Static check of kernels that write a workspace buffer and read it back in the same launch.

Such a kernel (a plugin launch with `Binding::workspace` buffers) is valid as one launch only if
each program reads back what its own CTA wrote, after a CTA barrier: `bar.sync` orders every
thread's prior global stores before the other threads' later loads, and the loads go through L2
(`ld.global.cg`, never the non-coherent `ld.global.nc` path). Triton writes this as
`tl.debug_barrier()` between the phases and `cache_modifier=".cg"` on the reads.

`unfenced_reads(ptx)` walks the kernel's control-flow graph: from every global store that precedes
the first L2 load, no path may reach an L2 load without passing a barrier (loop back edges included).
It cannot tell which buffer a store writes, so it checks the stores of the first phase (those
before the first `.cg` load in program order), which is where the kernels write their workspace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LABEL = re.compile(r"^(\$?[\w$]+):")
BRANCH = re.compile(r"^(@!?%\w+\s+)?bra(\.uni)?\s+(\$?[\w$]+)\s*;")
BARRIER = re.compile(r"^(@!?%\w+\s+)?(bar(\.cta)?\.sync|barrier(\.cta)?\.sync(\.aligned)?)\b")
STORE = re.compile(r"^(@!?%\w+\s+)?st\.global\b")
L2_LOAD = re.compile(r"^(@!?%\w+\s+)?ld\.global\.cg\b")
NC_LOAD = re.compile(r"\bld\.global\.nc\b")
END = re.compile(r"^(ret|exit|trap)\s*;")


@dataclass
class _Block:
    instructions: list[str] = field(default_factory=list)
    successors: list[int] = field(default_factory=list)


def _instructions(ptx: str) -> list[str]:
    """Labels and instructions of the first kernel body, comments and directives dropped."""
    body = ptx[ptx.index(".entry"):]
    body = body[body.index("{") + 1:]
    lines = []
    for raw in body.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line and not line.startswith((".", "{", "}")):
            lines.append(line)
    return lines


def _blocks(lines: list[str]) -> list[_Block]:
    """Basic blocks with their successors (branch targets and fall-through)."""
    blocks: list[_Block] = [_Block()]
    labels: dict[str, int] = {}
    for line in lines:
        label = LABEL.match(line)
        if label:
            if blocks[-1].instructions:
                blocks.append(_Block())
            labels[label.group(1)] = len(blocks) - 1
            continue
        blocks[-1].instructions.append(line)
        if BRANCH.match(line) or END.match(line):
            blocks.append(_Block())
    for index, block in enumerate(blocks):
        last = block.instructions[-1] if block.instructions else ""
        branch = BRANCH.match(last)
        if branch:
            block.successors.append(labels[branch.group(3)])
        unconditional = (branch and (branch.group(2) or not branch.group(1))) or END.match(last)
        if not unconditional and index + 1 < len(blocks):
            block.successors.append(index + 1)
    return blocks


def _reaches_unfenced_load(blocks: list[_Block], start: tuple[int, int]) -> bool:
    """Whether some path from (block, instruction) reaches an L2 load before any barrier."""
    seen: set[int] = set()
    pending = [start]
    while pending:
        block, first = pending.pop()
        for line in blocks[block].instructions[first:]:
            if BARRIER.match(line):
                break
            if L2_LOAD.match(line):
                return True
        else:
            pending += [(s, 0) for s in blocks[block].successors if s not in seen]
            seen.update(blocks[block].successors)
    return False


def unfenced_reads(ptx: str) -> list[str]:
    """Why the kernel's workspace write -> read hand-over is not safe in one launch ([] when it is)."""
    if NC_LOAD.search(ptx):
        return ["the kernel reads through the non-coherent path (ld.global.nc)"]
    blocks = _blocks(_instructions(ptx))
    positions = [(b, i, line) for b, block in enumerate(blocks) for i, line in enumerate(block.instructions)]
    first_load = next((n for n, (_, _, line) in enumerate(positions) if L2_LOAD.match(line)), None)
    if first_load is None:
        return ["the kernel has no L2 (ld.global.cg) load: read the workspace with cache_modifier='.cg'"]
    problems = []
    for block, index, line in positions[:first_load]:
        if STORE.match(line) and _reaches_unfenced_load(blocks, (block, index + 1)):
            problems.append(f"a path from '{line}' reaches an ld.global.cg without a CTA barrier")
    return problems
