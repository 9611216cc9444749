#!/usr/bin/env python3
"""Expected values for MetricsTests, computed with scikit-learn, statsmodels and scipy.

Run from the package root (needs `pip install scikit-learn statsmodels`):

    python3 Tests/MetricsTests/oracle.py > Tests/MetricsTests/OracleExpectations.swift

The tests never run Python: they compare ctr-eval's numbers with the committed output.
Small cases carry their inputs inline; the large ones are drawn from SplitMix64 with
nothing but +, -, *, / and floor, which Swift reproduces bit for bit
(`OracleGenerator` in OracleSupport.swift).
"""
import math
import sys
import warnings

import numpy as np
import sklearn
import statsmodels
import statsmodels.api as sm
from scipy.stats import norm, rankdata
from sklearn.calibration import calibration_curve
from sklearn.metrics import (average_precision_score, brier_score_loss, log_loss,
                             roc_auc_score)
from statsmodels.stats.proportion import proportion_confint

warnings.simplefilter("ignore")
MASK = (1 << 64) - 1
EPS = np.finfo(np.float64).eps


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)


def generate(seed, n):
    """Model A: 3 decimals (many ties) with some exact 0 and 1; model B: 5 decimals."""
    rng = SplitMix64(seed)
    a, b, y, w, seg = [], [], [], [], []
    for _ in range(n):
        u1, u2, u3, u4, u5, u6, u7 = (rng.uniform() for _ in range(7))
        t = u1 * u1 * 0.4
        y.append(1 if u2 < t else 0)
        p = math.floor(t * (0.7 + 0.6 * u3) * 1000) / 1000
        if u4 < 0.01:
            p = 0.0
        elif u4 > 0.995:
            p = 1.0
        a.append(p)
        b.append(math.floor((t * 0.5 + u5 * 0.1) * 100000) / 100000)
        seg.append("s%d" % math.floor(u6 * 40))
        w.append(math.floor((0.25 + 2 * u7) * 100) / 100)
    return (np.array(a), np.array(b), np.array(y), np.array(w), seg)


# ---------------------------------------------------------------- references

def delong_components(y, s):
    """DeLong structural components via midranks (Sun & Xu 2014), unweighted."""
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    tx, ty = rankdata(pos), rankdata(neg)
    tz = rankdata(np.concatenate([pos, neg]))
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:m] - tx) / n          # per positive: share of negatives below (ties 1/2)
    v01 = 1.0 - (tz[m:] - ty) / m    # per negative: share of positives above (ties 1/2)
    return auc, v10, v01


def delong_weighted(y, s, w):
    """The weighted generalisation ctr-eval documents, by brute force:
    V10_i = sum_j w_j psi(s_i, s_j) / sum_j w_j, Var = sum w_i^2 (V10_i - A)^2 / (sum w_i)^2 * m/(m-1) + (negatives)."""
    pos, neg = s[y == 1], s[y == 0]
    wp, wn = w[y == 1], w[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10 = psi @ wn / wn.sum()
    v01 = wp @ psi / wp.sum()
    auc = wp @ v10 / wp.sum()
    m, n = len(pos), len(neg)
    var = (np.sum(wp ** 2 * (v10 - auc) ** 2) / wp.sum() ** 2 * m / (m - 1)
           + np.sum(wn ** 2 * (v01 - auc) ** 2) / wn.sum() ** 2 * n / (n - 1))
    return auc, var


def reliability(p, y, w, bins, strategy):
    """Bins as scikit-learn's calibration_curve places them (same numpy calls);
    with weights, weighted means and Kish's effective size for the Wilson interval."""
    if strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 1, bins + 1) * 100)
    else:
        edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], p)
    out = []
    if w is None:
        prob_true, prob_pred = calibration_curve(y, p, n_bins=bins, strategy=strategy)
        totals = np.bincount(ids, minlength=bins)
        positives = np.bincount(ids, weights=y, minlength=bins)
        k = 0
        for b in range(bins):
            if totals[b] == 0:
                continue
            lo, hi = proportion_confint(positives[b], totals[b], alpha=0.05, method="wilson")
            out.append((int(totals[b]), prob_pred[k], prob_true[k], lo, hi, float(totals[b])))
            k += 1
    else:
        for b in range(bins):
            sel = ids == b
            if not sel.any():
                continue
            wb = w[sel]
            W = wb.sum()
            rate = (wb * y[sel]).sum() / W
            neff = W * W / (wb * wb).sum()
            lo, hi = proportion_confint(rate * neff, neff, alpha=0.05, method="wilson")
            out.append((int(sel.sum()), (wb * p[sel]).sum() / W, rate, lo, hi, W))
    total = sum(r[5] for r in out)
    ece = sum(r[5] / total * abs(r[1] - r[2]) for r in out)
    mce = max(abs(r[1] - r[2]) for r in out)
    return out, ece, mce


def refit(p, y, w):
    pc = np.clip(p, EPS, 1 - EPS)
    x = np.log(pc / (1 - pc))
    X = np.column_stack([np.ones_like(x), x])
    fit = sm.GLM(y, X, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-14, maxiter=200)
    return float(fit.params[0]), float(fit.params[1])


def metrics(p, y, w=None, bins=10, strategy="quantile"):
    both = 0 < y.sum() < len(y)
    sw = w
    W = len(y) if w is None else w.sum()
    wy = y.sum() if w is None else (w * y).sum()
    wp = p.sum() if w is None else (w * p).sum()
    rate = wy / W
    e = {"rows": len(y), "positives": int(y.sum())}
    e["logloss"] = log_loss(y, p, sample_weight=sw, labels=[0, 1])
    e["brier"] = brier_score_loss(y, p, sample_weight=sw, labels=[0, 1])
    e["clickRate"] = rate
    e["meanPrediction"] = wp / W
    e["calibration"] = wp / wy if wy > 0 else None
    H = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate)) if 0 < rate < 1 else 0
    e["ne"] = e["logloss"] / H if H > 0 else None
    if both:
        e["auc"] = roc_auc_score(y, p, sample_weight=sw)
        e["prAUC"] = average_precision_score(y, p, sample_weight=sw)
        if w is None:
            auc, v10, v01 = delong_components(y, p)
            var = np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01)
        else:
            auc, var = delong_weighted(y, p, w)
        se = math.sqrt(var)
        e["aucSE"] = se
        e["aucLower"] = max(0.0, e["auc"] - norm.ppf(0.975) * se)
        e["aucUpper"] = min(1.0, e["auc"] + norm.ppf(0.975) * se)
        if len(np.unique(p)) > 1:
            e["intercept"], e["slope"] = refit(p, y, w)
    rel, ece, mce = reliability(p, y, w, bins, strategy)
    e["bins"] = rel
    e["ece"], e["mce"] = ece, mce
    return e


def comparison(pa, pb, y):
    a, va10, va01 = delong_components(y, pa)
    b, vb10, vb01 = delong_components(y, pb)
    s10 = np.cov(np.vstack([va10, vb10]))
    s01 = np.cov(np.vstack([va01, vb01]))
    cov = s10 / len(va10) + s01 / len(va01)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = (b - a) / math.sqrt(var)
    return {"deltaAUC": roc_auc_score(y, pb) - roc_auc_score(y, pa),
            "deltaLogloss": log_loss(y, pb) - log_loss(y, pa),
            "z": z, "p": 2 * norm.sf(abs(z))}


def segments(p, y, seg, w=None):
    keys = sorted(set(seg))
    seg = np.array(seg)
    out, num, den = {}, 0.0, 0.0
    for k in keys:
        sel = seg == k
        ws = None if w is None else w[sel]
        W = sel.sum() if w is None else ws.sum()
        auc = roc_auc_score(y[sel], p[sel], sample_weight=ws) if 0 < y[sel].sum() < sel.sum() else None
        if auc is not None:
            num += W * auc
            den += W
        out[k] = (int(sel.sum()), auc, log_loss(y[sel], p[sel], sample_weight=ws, labels=[0, 1]))
    return out, num / den


# ---------------------------------------------------------------- Swift output

def lit(v):
    if v is None:
        return "nil"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(float(v))


def arr(values, t="Double"):
    return "[" + ", ".join(lit(v) for v in values) + "] as [%s]" % t


def expected_swift(e, indent):
    pad = " " * indent
    fields = ["rows", "positives", "auc", "logloss", "ne", "calibration", "prAUC", "brier", "clickRate",
              "meanPrediction", "aucSE", "aucLower", "aucUpper", "slope", "intercept", "ece", "mce"]
    s = "OracleExpected(\n"
    for f in fields:
        s += pad + "    %s: %s,\n" % (f, lit(e.get(f)))
    s += pad + "    bins: [\n"
    for b in e["bins"]:
        s += pad + "        OracleBin(rows: %d, meanPrediction: %s, observedRate: %s, ciLower: %s, ciUpper: %s),\n" % (
            b[0], lit(b[1]), lit(b[2]), lit(b[3]), lit(b[4]))
    s += pad + "    ])"
    return s


def case(name, inp, e, bins=10, strategy="quantile", extra=""):
    return ("    OracleCase(\n        name: %r,\n        input: %s,\n        bins: %d, strategy: .%s,\n"
            "        expected: %s%s),\n") % (name, inp, bins, strategy, expected_swift(e, 8), extra)


def main():
    out = ["// Generated by Tests/MetricsTests/oracle.py with scikit-learn %s, statsmodels %s, numpy %s."
           % (sklearn.__version__, statsmodels.__version__, np.__version__),
           "// Do not edit: rerun the script instead.", "@testable import Metrics", "",
           "let oracleCases: [OracleCase] = ["]

    inline = [
        ("ties", [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.1, 0.9, 0.35, 0.1],
         [0, 0, 1, 1, 1, 0, 1, 0, 0, 1], None, 3),
        ("weights", [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.1, 0.9, 0.35, 0.1],
         [0, 0, 1, 1, 1, 0, 1, 0, 0, 1], [1.0, 2.5, 0.5, 1.0, 3.0, 0.25, 1.0, 2.0, 0.0, 1.5], 3),
        ("all-equal", [0.3] * 8, [0, 1, 0, 0, 1, 0, 0, 1], None, 4),
        ("extremes", [0.0, 1.0, 0.0, 1.0, 0.5, 1e-20, 0.999999999, 0.0, 1.0, 0.25],
         [1, 0, 0, 1, 1, 0, 1, 0, 1, 0], None, 4),
        ("one-class-negatives", [0.1, 0.2, 0.2, 0.7, 0.05], [0, 0, 0, 0, 0], None, 2),
        ("one-class-positives", [0.1, 0.2, 0.2, 0.7, 0.05], [1, 1, 1, 1, 1], None, 2),
    ]
    for name, p, y, w, bins in inline:
        pa, ya = np.array(p, dtype=float), np.array(y)
        wa = None if w is None else np.array(w, dtype=float)
        e = metrics(pa, ya, wa, bins=bins)
        inp = ".inline(predictions: %s, labels: %s, weights: %s)" % (
            arr(p), arr(y, "UInt8"), "nil" if w is None else arr(w))
        out.append(case(name, inp, e, bins=bins))

    a, b, y, w, seg = generate(20240601, 10000)
    out.append(case("random-10k", ".generated(seed: 20240601, count: 10000, model: .a, weighted: false)",
                    metrics(a, y)))
    out.append(case("random-10k-uniform", ".generated(seed: 20240601, count: 10000, model: .a, weighted: false)",
                    metrics(a, y, bins=15, strategy="uniform"), bins=15, strategy="uniform"))
    out.append(case("random-10k-model-b", ".generated(seed: 20240601, count: 10000, model: .b, weighted: false)",
                    metrics(b, y)))
    # Negative downsampling correction: q = p / (p + (1 - p) / W), negatives weigh 1 / W.
    keep = 0.25
    q = a / (a + (1 - a) / keep)
    wk = np.where(y == 1, 1.0, 1.0 / keep)
    e = metrics(q, y, wk)
    out.append(case("random-10k-neg-keep-0.25", ".generated(seed: 20240601, count: 10000, model: .a, weighted: false)",
                    e, extra=",\n        negKeepRate: 0.25"))
    a3, b3, y3, w3, seg3 = generate(777, 3000)
    out.append(case("random-3k-weighted", ".generated(seed: 777, count: 3000, model: .a, weighted: true)",
                    metrics(a3, y3, w3)))
    out.append("]")
    out.append("")

    c = comparison(a, b, y)
    out.append("/// Model B against model A on random-10k (DeLong via midranks).")
    out.append("let oracleComparison = OracleComparison(deltaAUC: %s, deltaLogloss: %s, z: %s, p: %s)"
               % (lit(c["deltaAUC"]), lit(c["deltaLogloss"]), lit(c["z"]), lit(c["p"])))
    out.append("")
    segs, gauc = segments(a, y, seg)
    out.append("/// Per-segment metrics of model A on random-10k: key: (rows, auc, logloss).")
    out.append("let oracleSegments: [String: (rows: Int, auc: Double?, logloss: Double)] = [")
    for k, (rows, auc, ll) in segs.items():
        out.append("    %r: (%d, %s, %s)," % (k, rows, lit(auc), lit(ll)))
    out.append("]")
    out.append("let oracleGAUC = %s" % lit(gauc))
    segs_w, gauc_w = segments(a3, y3, seg3, w3)
    out.append("/// GAUC of model A on random-3k-weighted (segment weight = weight sum).")
    out.append("let oracleWeightedGAUC = %s" % lit(gauc_w))
    print("\n".join(out).replace("'", '"'))


if __name__ == "__main__":
    main()
