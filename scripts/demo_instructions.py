"""Write a small generated instruction set (Alpaca JSONL: instruction, input, output) for the demo's
`dscoder instruct` step: list reversals, sorts and sums, seeded, so the demo needs no download.

Usage: python scripts/demo_instructions.py OUT.jsonl [N]
"""

import json
import random
import sys


def examples(n: int, seed: int = 0):
    rng = random.Random(seed)
    tasks = [
        ("Reverse this list.", lambda xs: list(reversed(xs))),
        ("Sort this list in ascending order.", sorted),
        ("Return the sum of this list.", sum),
        ("Write a Python expression that reverses the list.", lambda xs: f"{xs}[::-1]"),
    ]
    for _ in range(n):
        text, fn = rng.choice(tasks)
        xs = [rng.randint(0, 99) for _ in range(rng.randint(3, 7))]
        yield {"instruction": text, "input": str(xs), "output": str(fn(xs))}


def main(out: str, n: int = 400) -> None:
    with open(out, "w", encoding="utf-8") as f:
        for ex in examples(n):
            f.write(json.dumps(ex) + "\n")
    print(f"{out}: {n} instruction examples")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 400)
