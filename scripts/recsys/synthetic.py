"""A small synthetic interactions data set with a known structure, for tests.

Users belong to one of four taste groups; each group prefers a quarter of the items, and
everyone also meets popular items. Each user's interactions get increasing timestamps, and
their last 20 % becomes the test file (a temporal split). Seeded, so the output is the same
on every run: `python3 scripts/recsys/synthetic.py --out streams/recommend/tests/fixtures`.
"""

import argparse
import os
import random


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--items", type=int, default=120)
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    items = [f"i{n:03d}" for n in range(args.items)]
    popular = items[: args.items // 10]
    train, test = [], []
    for u in range(args.users):
        group = u % 4
        liked = [item for n, item in enumerate(items) if n % 4 == group]
        count = rng.randint(8, 30)
        chosen = []
        while len(chosen) < count:
            pool = popular if rng.random() < 0.25 else liked
            item = rng.choice(pool)
            if item not in chosen:
                chosen.append(item)
        t = 1_700_000_000 + rng.randint(0, 10_000)
        rows = []
        for item in chosen:
            t += rng.randint(1, 5_000)
            rows.append((f"u{u:03d}", item, rng.randint(1, 5), t))
        cut = len(rows) - round(len(rows) * 0.2)
        train.extend(rows[:cut])
        test.extend(rows[cut:])
    os.makedirs(args.out, exist_ok=True)
    for name, rows in (("train.tsv", train), ("test.tsv", test)):
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            f.write("user\titem\trating\ttimestamp\n")
            for row in rows:
                f.write("\t".join(map(str, row)) + "\n")
    print(f"{len(train)} train rows, {len(test)} test rows")


if __name__ == "__main__":
    main()
