#!/usr/bin/env python3
"""Innermost loops of a compiled library that do FMAs and also touch the stack.

    build/cnnc examples/resnet18.cnn --train -o /tmp/r18.so
    /usr/bin/python3 bench/loop_spills.py /tmp/r18.so [--min-stack 1]

Disassembles the library (objdump), finds every innermost loop (a backward
conditional jump with no other loop inside) that contains vector FMAs, and
lists those that also load or store vector registers on the stack (spilled
accumulators) or copy many vector registers to one another (LLVM rotating
values through too few registers). Either way the register tile is too big
for the 16 AVX2 registers: the loop's FMAs wait on memory or moves instead of
each other. Listed per Halide loop (the kernel's `par_for_<stage>` closure).
"""

import argparse
import re
import signal
import subprocess

FUNC = re.compile(r"^([0-9a-f]+) <(.*)>:$")
INSN = re.compile(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$")
STACK = re.compile(r"%ymm\d+.*\(%rsp\)|\(%rsp\).*%ymm\d+")
REG_MOVE = re.compile(r"^%ymm\d+,%ymm\d+$")


def functions(so):
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", so], check=True, capture_output=True,
                         text=True).stdout
    name, body = None, []
    for line in out.splitlines():
        m = FUNC.match(line)
        if m:
            if name:
                yield name, body
            name, body = m.group(2), []
            continue
        m = INSN.match(line)
        if m and name:
            body.append((int(m.group(1), 16), m.group(2), m.group(3)))
    if name:
        yield name, body


def backward_target(insn):
    addr, op, args = insn
    if not op.startswith("j") or op == "jmp":
        return None
    m = re.match(r"([0-9a-f]+)", args)
    target = int(m.group(1), 16) if m else None
    return target if target is not None and target < addr else None


def innermost_loops(body):
    loops = [(backward_target(i), i[0]) for i in body if backward_target(i) is not None]
    for start, end in loops:
        if not any(s > start and e < end for s, e in loops):
            yield [i for i in body if start <= i[0] <= end]


def main():
    p = argparse.ArgumentParser(description="innermost FMA loops that spill (see the module docstring)")
    p.add_argument("library")
    p.add_argument("--min-stack", type=int, default=1, help="vector stack loads/stores to report a loop")
    p.add_argument("--min-moves", type=int, default=8, help="vector register copies to report a loop")
    args = p.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    found = 0
    for name, body in functions(args.library):
        for loop in innermost_loops(body):
            fmas = sum(1 for _, op, _ in loop if op.startswith("vfmadd"))
            stack = sum(1 for _, _, a in loop if STACK.search(a))
            moves = sum(1 for _, op, a in loop if op in ("vmovaps", "vmovups") and REG_MOVE.match(a))
            if fmas and (stack >= args.min_stack or moves >= args.min_moves):
                found += 1
                print(f"{fmas:4d} FMAs {stack:4d} stack {moves:4d} reg copies {len(loop):5d} insns  {name}")
    if not found:
        print("no innermost FMA loop spills")


if __name__ == "__main__":
    main()
