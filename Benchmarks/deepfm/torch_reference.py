#!/usr/bin/env python3
"""A PyTorch CPU DeepFM for Benchmarks/deepfm/run.sh (TORCH=1): the reference ctr-train
--model deepfm is timed against (issue #14). Written for this benchmark from the DeepFM
paper (Guo et al., IJCAI 2017); no code from DeepCTR or FuxiCTR; not part of SwiftCTR and
not used by its tests. Needs torch (pip install torch) and numpy.

Same data (ctr-hash's libffm text of the same caches), model and training as ctr-train
--model deepfm with its defaults:
- values instance-normalised (1/sqrt(sum of squares) per row); test indices not seen in
  training contribute nothing;
- y = b + sum_i w_i x_i + FM over k-factor embeddings + a ReLU network over the
  concatenated per-field embeddings x_i v_i (PyTorch's default Linear initialisation);
- embeddings initialised uniform in [0, 1/sqrt(k)), linear terms 0;
- bias, linear terms and embeddings: AdaGrad (lr --eta 0.2, accumulators starting at 1),
  sparse gradients (nn.Embedding(sparse=True)), L2 --lam on the rows of the batch as part
  of the summed loss; the network: Adam (--net-eta 0.001) on the batch's mean gradient;
- rows in a shuffled order, mini-batches of --batch rows, --epochs epochs,
  torch.set_num_threads(--threads);
- --precision bf16: the forward passes under torch.autocast("cpu", dtype=torch.bfloat16)
  (the linear layers' products in bfloat16, weights and optimiser state in fp32), the
  counterpart of ctr-train --precision bf16.
Like ctr-train, torch.optim.Adagrad takes one step per batch on the summed gradient of each
touched row. Differences: the random draws (initial weights, row order).

Prints an epoch table like ctr-train's: iter, tr_logloss, va_logloss, va_auc, seconds
(seconds: training and scoring the test set, as ctr-train's column), then one line
"train_s T eval_s E" per epoch on stderr.
"""
import sys
import time

import numpy as np
import torch

from reference import arguments, auc, read_ffm


class DeepFM(torch.nn.Module):
    def __init__(self, n, m, k, hidden, gen):
        super().__init__()
        self.m, self.k = m, k
        self.v = torch.nn.Embedding(n, k, sparse=True)
        self.w = torch.nn.Embedding(n, 1, sparse=True)
        self.b = torch.nn.Parameter(torch.zeros(1))
        with torch.no_grad():
            self.v.weight.copy_(torch.rand(n, k, generator=gen) / k ** 0.5)
            self.w.weight.zero_()
        widths = [m * k] + hidden + [1]
        layers = []
        for l, (i, o) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(torch.nn.Linear(i, o))
            if l + 2 < len(widths):
                layers.append(torch.nn.ReLU())
        self.net = torch.nn.Sequential(*layers)

    def forward(self, idx, x):
        vb = self.v(idx)                                  # B x m x k
        wb = self.w(idx).squeeze(-1)                      # B x m
        e = vb * x.unsqueeze(-1)
        s = e.sum(dim=1)
        fm = 0.5 * ((s * s).sum(dim=1) - (e * e).sum(dim=(1, 2)))
        t = self.b + (wb * x).sum(dim=1) + fm + self.net(e.reshape(len(idx), self.m * self.k)).squeeze(-1)
        return t, vb, wb


def main():
    ap = arguments()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--profile", type=int, default=0,
                    help="profile this many training batches with torch.profiler, print the table by operator, stop")
    ap.add_argument("--probe", type=int, default=0,
                    help="also print the test log loss every this many training rows (\"probe ROWS LOSS\" on stderr)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    ytr, itr, xtr = read_ffm(a.train)
    yte, ite, xte = read_ffm(a.test)
    n = int(max(itr.max(), ite.max())) + 1
    m = itr.shape[1]
    seen = np.zeros(n, dtype=bool)
    seen[itr.ravel()] = True
    xte = xte * seen[ite]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(ytr)} training rows, {len(yte)} test rows, "
          f"{m} fields, {n} indices", file=sys.stderr)
    model = DeepFM(n, m, a.k, [int(h) for h in a.hidden.split(",") if h], gen)
    sparse = torch.optim.Adagrad([model.v.weight, model.w.weight, model.b], lr=a.eta, initial_accumulator_value=1.0)
    dense = torch.optim.Adam(model.net.parameters(), lr=a.net_eta)
    Itr, Xtr, Ytr = torch.from_numpy(itr), torch.from_numpy(xtr), torch.from_numpy(ytr)
    Ite, Xte = torch.from_numpy(ite), torch.from_numpy(xte)
    bce = torch.nn.BCEWithLogitsLoss(reduction="sum")

    def precision():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16")

    def score_test():
        with torch.no_grad(), precision():
            return torch.cat([model(Ite[s:s + 4096], Xte[s:s + 4096])[0].float()
                              for s in range(0, len(Ite), 4096)]).double().numpy()

    def train_batch(rows):
        """One mini-batch's forward, backward and optimiser steps; its summed log loss."""
        idx, x, y = Itr[rows], Xtr[rows], Ytr[rows]
        with precision():
            t, vb, wb = model(idx, x)
        loss = bce(t.float(), y)
        objective = loss + 0.5 * a.lam * ((vb * vb).sum() + (wb * wb).sum())
        sparse.zero_grad()
        dense.zero_grad()
        objective.backward()
        for p in model.net.parameters():
            p.grad /= len(rows)     # the network: the batch's mean gradient
        sparse.step()
        dense.step()
        return loss.item()

    if a.profile:
        from torch.profiler import profile, ProfilerActivity
        order = torch.randperm(len(Ytr), generator=gen)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.time()
            for s in range(0, a.profile * a.batch, a.batch):
                train_batch(order[s:s + a.batch])
            print(f"{a.profile} batches in {time.time() - start:.2f} s", file=sys.stderr)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), file=sys.stderr)
        return

    print("iter   tr_logloss   va_logloss       va_auc      seconds")
    for epoch in range(1, a.epochs + 1):
        start = time.time()
        order = torch.randperm(len(Ytr), generator=gen)
        total = 0.0
        probed = 0
        for s in range(0, len(order), a.batch):
            total += train_batch(order[s:s + a.batch])
            if a.probe and min(s + a.batch, len(order)) >= probed + a.probe:
                probed += a.probe
                te = score_test()
                z = np.where(yte > 0, te, -te)
                print(f"probe {epoch} {min(s + a.batch, len(order))} {np.logaddexp(0, -z).mean():.5f}", file=sys.stderr, flush=True)
        trained = time.time()
        te = score_test()
        ended = time.time()
        z = np.where(yte > 0, te, -te)
        va = np.logaddexp(0, -z).mean()
        print(f"{epoch:4d} {total / len(ytr):12.5f} {va:12.5f} {auc(te, yte):12.5f} {ended - start:12.1f}", flush=True)
        print(f"train_s {trained - start:.1f} eval_s {ended - trained:.1f}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
