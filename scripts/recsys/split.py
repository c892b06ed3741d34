"""Splits MovieLens-100K (RecBole's copy) into the TSV files `finpulse eval recommender` reads.

Writes `<out>/{random,temporal}/{train,test}.tsv` with the header `user item rating timestamp`.
- random: 20 % of each user's rows, drawn with a fixed seed, are test;
- temporal: each user's last 20 % of rows by timestamp (ties broken by file order) are test.
Every rating counts as a positive interaction, as in the benchmark of `implicit` we compare with.
"""

import argparse
import os
import random


def read_inter(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            user, item, rating, ts = line.rstrip("\n").split("\t")
            rows.append((user, item, rating, int(float(ts))))
    return rows


def write(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("user\titem\trating\ttimestamp\n")
        for user, item, rating, ts in rows:
            f.write(f"{user}\t{item}\t{rating}\t{ts}\n")


def split(rows, how, seed, share=0.2):
    by_user = {}
    for index, row in enumerate(rows):
        by_user.setdefault(row[0], []).append((index, row))
    rng = random.Random(seed)
    train, test = [], []
    for user in sorted(by_user):
        entries = by_user[user]
        if how == "temporal":
            entries.sort(key=lambda e: (e[1][3], e[0]))
        else:
            rng.shuffle(entries)
        n_test = int(round(len(entries) * share))
        cut = len(entries) - n_test
        train.extend(row for _, row in entries[:cut])
        test.extend(row for _, row in entries[cut:])
    return train, test


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--inter", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rows = read_inter(args.inter)
    for how in ("random", "temporal"):
        train, test = split(rows, how, args.seed)
        write(os.path.join(args.out, how, "train.tsv"), train)
        write(os.path.join(args.out, how, "test.tsv"), test)
        print(f"{how}: {len(train)} train rows, {len(test)} test rows")


if __name__ == "__main__":
    main()
