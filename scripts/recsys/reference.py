"""Peers of `finpulse eval recommender` on the same files, with metrics computed independently.

Models: `implicit` ALS (the PyPI package, CPU, conjugate gradient), `implicit` BPR, `implicit`
item-item cosine (CosineRecommender, K neighbours), and EASE, item-kNN (shrunk cosine, K
neighbours per item) and popularity written here in numpy. Metrics follow the contract of `finpulse eval recommender`:
for every user with a test row, all items outside the user's training rows are ranked;
precision@k = hits/k, recall@k = hits/|test items|, ndcg@k with binary relevance and the ideal
DCG over min(k, |test items|). Items never seen in training are still candidates (they score
lowest). Prints one JSON object per model.
"""

import argparse
import json
import time

import numpy as np
import scipy.sparse as sp


def read(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        header = next(f).rstrip("\n").split("\t")
        assert header[:2] == ["user", "item"], header
        for line in f:
            parts = line.rstrip("\n").split("\t")
            rows.append((parts[0], parts[1], int(float(parts[3]))))
    return rows


def evaluate(scores_for, train, test, items, k):
    item_index = {item: i for i, item in enumerate(items)}
    seen = {}
    for user, item, _ in train:
        seen.setdefault(user, set()).add(item_index[item])
    truth = {}
    for user, item, _ in test:
        truth.setdefault(user, set()).add(item_index[item])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    precision = recall = ndcg = 0.0
    for user, relevant in truth.items():
        scores = np.asarray(scores_for(user), dtype=np.float64).copy()
        scores[list(seen.get(user, ()))] = -np.inf
        # stable order: higher score first, then item order
        order = np.lexsort((np.arange(len(scores)), -scores))
        top = [i for i in order if np.isfinite(scores[i])][:k]
        gains = np.array([1.0 if i in relevant else 0.0 for i in top] + [0.0] * (k - len(top)))
        hits = gains.sum()
        precision += hits / k
        recall += hits / len(relevant)
        ideal = discounts[: min(k, len(relevant))].sum()
        ndcg += (gains * discounts).sum() / ideal
    n = len(truth)
    return {"users": n, "precision": precision / n, "recall": recall / n, "ndcg": ndcg / n}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--models", default="popularity,ease,implicit-als,implicit-bpr")
    parser.add_argument("--ease-lambda", type=float, default=500.0)
    parser.add_argument("--knn-neighbours", type=int, default=100)
    parser.add_argument("--knn-shrink", type=float, default=10.0)
    args = parser.parse_args()
    train, test = read(args.train), read(args.test)
    users = sorted({u for u, _, _ in train} | {u for u, _, _ in test})
    items = sorted({i for _, i, _ in train} | {i for _, i, _ in test})
    user_index = {u: n for n, u in enumerate(users)}
    item_index = {i: n for n, i in enumerate(items)}
    pairs = {(user_index[u], item_index[i]) for u, i, _ in train}
    r, c = zip(*sorted(pairs))
    x = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(len(users), len(items)))

    for model in args.models.split(","):
        started = time.perf_counter()
        if model == "popularity":
            popularity = np.asarray(x.sum(axis=0)).ravel()
            def scores_for(user, p=popularity):
                return p.copy()
        elif model == "ease":
            gram = (x.T @ x).toarray().astype(np.float64)
            gram[np.diag_indices_from(gram)] += args.ease_lambda
            p = np.linalg.inv(gram)
            b = -p / np.diag(p)
            b[np.diag_indices_from(b)] = 0.0
            def scores_for(user, b=b):
                return np.asarray(x[user_index[user]] @ b).ravel()
        elif model == "knn":
            # Shrunk cosine of the binary item columns; each item keeps its K most similar
            # others (ties to the lower index); a user's scores sum their items' rows.
            co = (x.T @ x).toarray().astype(np.float64)
            counts = np.diag(co).copy()
            sim = co / (np.sqrt(np.outer(counts, counts)) + args.knn_shrink)
            np.fill_diagonal(sim, 0.0)
            sim[co == 0] = 0.0
            kept = np.zeros_like(sim)
            for i in range(sim.shape[0]):
                order = np.lexsort((np.arange(sim.shape[1]), -sim[i]))
                top = [j for j in order[: args.knn_neighbours] if sim[i, j] > 0]
                kept[i, top] = sim[i, top]
            def scores_for(user, kept=kept):
                return np.asarray(x[user_index[user]] @ kept).ravel()
        elif model == "implicit-cosine":
            import implicit
            m = implicit.nearest_neighbours.CosineRecommender(K=args.knn_neighbours)
            m.fit(x, show_progress=False)
            similarity = m.similarity.toarray()
            def scores_for(user, s=similarity):
                return np.asarray(x[user_index[user]] @ s).ravel()
        elif model in ("implicit-als", "implicit-bpr"):
            import implicit
            from threadpoolctl import threadpool_limits
            threadpool_limits(1, "blas")
            if model == "implicit-als":
                m = implicit.cpu.als.AlternatingLeastSquares(
                    factors=64, regularization=0.05, alpha=2.0, iterations=15, random_state=42)
            else:
                m = implicit.cpu.bpr.BayesianPersonalizedRanking(
                    factors=64, iterations=100, random_state=42)
            m.fit(x, show_progress=False)
            def scores_for(user, m=m):
                return m.user_factors[user_index[user]] @ m.item_factors.T
        else:
            raise SystemExit(f"unknown model {model}")
        train_s = time.perf_counter() - started
        report = evaluate(scores_for, train, test, items, args.k)
        report["model"] = model
        report["train_s"] = round(train_s, 3)
        print(json.dumps(report))


if __name__ == "__main__":
    main()
