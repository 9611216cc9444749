#!/usr/bin/env python3
"""A NumPy DeepFM for Benchmarks/deepfm/run.sh: the reference ctr-train --model deepfm is
measured against. Written for this benchmark from the DeepFM paper (Guo et al., IJCAI 2017);
not part of SwiftCTR and not used by its tests.

Same model and training as ctr-train --model deepfm with its defaults: instance-normalised
values (1/sqrt(features in the row)), bias + linear terms + FM over k-factor embeddings,
plus a ReLU network over the concatenated per-field embeddings; AdaGrad (accumulators
starting at 1, eta 0.2, L2 2e-5) for bias, linear terms and embeddings, Adam (0.001) for
the network on the batch's mean gradient; rows in a shuffled order, mini-batches of
--batch rows. One difference: ctr-train takes one AdaGrad step per touched row on the
batch's summed gradient, this reference adds each occurrence's squared gradient to the
accumulator and all the occurrences' steps at once (np.add.at).

Prints an epoch table like ctr-train's: iter, tr_logloss, va_logloss, va_auc, seconds.
"""
import argparse
import sys
import time

import numpy as np


def read_ffm(path, chunk=200_000):
    """Labels, indices (rows x m) and normalised values of a libffm file with one feature
    per field, field j at position j."""
    labels, indices, values = [], [], []
    width = None
    with open(path) as f:
        while True:
            lines = f.readlines(chunk * 400)
            if not lines:
                break
            text = "".join(lines).replace(":", " ")
            a = np.array(text.split(), dtype=np.float64)
            if width is None:
                width = (len(lines[0].split()) - 1)
            cols = 1 + 3 * width
            if a.size != cols * len(lines):
                sys.exit(f"{path}: rows with different feature counts; this reference expects one feature per field")
            a = a.reshape(len(lines), cols)
            fields = a[:, 1::3]
            if not (fields == np.arange(width)[None, :]).all():
                sys.exit(f"{path}: expected field j at position j of every row")
            labels.append(a[:, 0].astype(np.float32))
            indices.append(a[:, 2::3].astype(np.int64))
            values.append(a[:, 3::3].astype(np.float32))
    v = np.concatenate(values)
    v /= np.sqrt((v * v).sum(axis=1, keepdims=True))
    return np.concatenate(labels), np.concatenate(indices), v


def auc(scores, labels):
    order = np.argsort(scores, kind="mergesort")
    s, y = scores[order], labels[order]
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2)[inverse]
    pos = y.sum()
    neg = len(y) - pos
    return (ranks[y > 0].sum() - pos * (pos + 1) / 2) / (pos * neg)


def arguments():
    """The options both references share (ctr-train's defaults)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--hidden", default="400,400,400")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--eta", type=float, default=0.2)
    ap.add_argument("--lam", type=float, default=0.00002)
    ap.add_argument("--net-eta", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("train")
    ap.add_argument("test")
    return ap


def main():
    a = arguments().parse_args()
    rng = np.random.default_rng(a.seed)
    ytr, itr, xtr = read_ffm(a.train)
    yte, ite, xte = read_ffm(a.test)
    n = int(max(itr.max(), ite.max())) + 1
    m, k = itr.shape[1], a.k
    seen = np.zeros(n, dtype=bool)
    seen[itr.ravel()] = True
    xte = xte * seen[ite]  # indices not seen in training contribute nothing
    V = (rng.random((n, k), dtype=np.float32) / np.sqrt(k)).astype(np.float32)
    GV = np.ones((n, k), dtype=np.float32)
    w = np.zeros(n, dtype=np.float32)
    Gw = np.ones(n, dtype=np.float32)
    bias = np.zeros(2, dtype=np.float32)
    bias[1] = 1
    widths = [m * k] + [int(h) for h in a.hidden.split(",") if h] + [1]
    Ws, bs = [], []
    for i, o in zip(widths[:-1], widths[1:]):
        bound = 1 / np.sqrt(i)
        Ws.append(rng.uniform(-bound, bound, (i, o)).astype(np.float32))
        bs.append(rng.uniform(-bound, bound, o).astype(np.float32))
    params = Ws + bs
    M1 = [np.zeros_like(p) for p in params]
    M2 = [np.zeros_like(p) for p in params]
    step = 0

    def forward(idx, x):
        E = V[idx] * x[:, :, None]                      # B x m x k
        S = E.sum(axis=1)
        t = bias[0] + (w[idx] * x).sum(axis=1) + 0.5 * ((S * S).sum(axis=1) - (E * E).sum(axis=(1, 2)))
        acts = [E.reshape(len(idx), m * k)]
        for l, (W, b) in enumerate(zip(Ws, bs)):
            z = acts[-1] @ W + b
            acts.append(np.maximum(z, 0) if l + 1 < len(Ws) else z)
        return t + acts[-1][:, 0], acts, S

    def score_all(idx, x):
        return np.concatenate([forward(idx[s:s + 4096], x[s:s + 4096])[0] for s in range(0, len(idx), 4096)])

    def logloss(t, y):
        z = np.where(y > 0, t, -t).astype(np.float64)
        return np.logaddexp(0, -z)

    print("iter   tr_logloss   va_logloss       va_auc      seconds")
    for epoch in range(1, a.epochs + 1):
        start = time.time()
        order = rng.permutation(len(ytr))
        total = 0.0
        for s in range(0, len(order), a.batch):
            rows = order[s:s + a.batch]
            idx, x, y = itr[rows], xtr[rows], ytr[rows]
            t, acts, S = forward(idx, x)
            total += logloss(t, y).sum()
            kappa = (1 / (1 + np.exp(-t)) - y).astype(np.float32)
            B = len(rows)
            delta = kappa[:, None]
            grads_W, grads_b = [None] * len(Ws), [None] * len(Ws)
            for l in range(len(Ws) - 1, -1, -1):
                grads_W[l] = acts[l].T @ delta / B
                grads_b[l] = delta.sum(axis=0) / B
                delta = delta @ Ws[l].T
                if l > 0:
                    delta = delta * (acts[l] > 0)
            dE = delta.reshape(B, m, k)
            Vb = V[idx]
            g = kappa[:, None, None] * x[:, :, None] * (S[:, None, :] - x[:, :, None] * Vb) + x[:, :, None] * dE + a.lam * Vb
            np.add.at(GV, idx, g * g)
            np.add.at(V, idx, -a.eta * g / np.sqrt(GV[idx]))
            gl = a.lam * w[idx] + kappa[:, None] * x
            np.add.at(Gw, idx, gl * gl)
            np.add.at(w, idx, -a.eta * gl / np.sqrt(Gw[idx]))
            for kap in kappa:
                bias[1] += kap * kap
                bias[0] -= a.eta * kap / np.sqrt(bias[1])
            step += 1
            c1, c2 = 1 - 0.9 ** step, 1 - 0.999 ** step
            for j, (p, gr) in enumerate(zip(params, grads_W + grads_b)):
                M1[j] = 0.9 * M1[j] + 0.1 * gr
                M2[j] = 0.999 * M2[j] + 0.001 * gr * gr
                p -= a.net_eta / c1 * M1[j] / (np.sqrt(M2[j] / c2) + 1e-8)
        seconds = time.time() - start
        te = score_all(ite, xte)
        print(f"{epoch:4d} {total / len(ytr):12.5f} {logloss(te, yte).mean():12.5f} {auc(te, yte):12.5f} {seconds:12.1f}",
              flush=True)


if __name__ == "__main__":
    main()
