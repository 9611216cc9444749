#!/usr/bin/env python3
"""Helper of Benchmarks/run: the scikit-learn reference for ctr-eval, the tables and the JSON.

    bench.py sklearn-eval PRED LABELS OUT.json   (appends its timing to OUT.json's "runs")
    bench.py report WORK [--out results.json] [--markdown]

`report` reads what Benchmarks/run left in WORK: meta.tsv (settings and machine),
measurements.tsv (one line per measured command: size, name, wall s, peak RSS kB, CPU s,
runs, load average before), and per size WORK/<rows>/ (rows/stats.json, eval.json,
quality.json, sklearn.json, train-epochs.json, libffm/train.out, pipeline-work/manifest.json).
Standard library only, so the report works without numpy or scikit-learn.
"""
import json
import os
import sys
import time


# ---------------------------------------------------------------------------------------------
# scikit-learn reference for ctr-eval


def sklearn_eval(pred_path, labels_path, out_path):
    """Reads the same text files as ctr-eval and computes the metrics both compute: AUC, log
    loss, calibration, average precision, Brier score, quantile reliability bins. The time
    excludes the imports (reported apart), as the eval stage's own benchmark does."""
    t0 = time.perf_counter()
    import numpy as np
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    try:
        import pandas as pd
    except ImportError:
        pd = None
    t1, c1 = time.perf_counter(), time.process_time()
    if pd is not None:
        reader = "pandas.read_csv"
        p = pd.read_csv(pred_path, header=None, dtype=np.float64, engine="c").iloc[:, 0].to_numpy()
        y = pd.read_csv(labels_path, header=None, dtype=np.int64, engine="c").iloc[:, 0].to_numpy()
    else:
        reader = "numpy.loadtxt"
        p = np.loadtxt(pred_path, dtype=np.float64)
        y = np.loadtxt(labels_path, dtype=np.int64)
    out = {
        "auc": float(roc_auc_score(y, p)),
        "logloss": float(log_loss(y, p)),
        "calibration": float(p.sum() / y.sum()),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
    }
    prob_true, _ = calibration_curve(y, p, n_bins=10, strategy="quantile")
    out["observed_rates"] = [float(r) for r in prob_true]
    t2, c2 = time.perf_counter(), time.process_time()
    previous = []
    if os.path.exists(out_path):
        with open(out_path) as f:
            previous = json.load(f).get("runs", [])
    out["runs"] = previous + [{"seconds": t2 - t1, "cpu_seconds": c2 - c1, "import_seconds": t1 - t0}]
    best = min(out["runs"], key=lambda r: r["seconds"])
    out["seconds"], out["cpu_seconds"] = best["seconds"], best["cpu_seconds"]
    out["reader"] = reader
    out["version"] = __import__("sklearn").__version__
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)


# ---------------------------------------------------------------------------------------------
# report


def load_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def read_meta(work):
    meta = {}
    with open(os.path.join(work, "meta.tsv")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            meta[key] = value
    return meta


def read_measurements(work):
    """{rows: {name: {wall_s, peak_rss_mb, cpu_s, runs, loadavg_before}}}. A name measured
    several times (training rounds) keeps its fastest wall time with that run's CPU time and
    load, the largest peak RSS, and the total number of runs."""
    result = {}
    with open(os.path.join(work, "measurements.tsv")) as f:
        for line in f:
            size, name, wall, rss, cpu, runs, load = line.rstrip("\n").split("\t")
            new = {
                "wall_s": float(wall),
                "peak_rss_mb": int(rss) / 1024,
                "cpu_s": float(cpu),
                "runs": int(runs),
                "loadavg_before": load,
            }
            old = result.setdefault(int(size), {}).get(name)
            if old is not None:
                runs_total = old["runs"] + new["runs"]
                peak = max(old["peak_rss_mb"], new["peak_rss_mb"])
                new = dict(min(old, new, key=lambda m: m["wall_s"]))
                new["runs"], new["peak_rss_mb"] = runs_total, peak
            result[int(size)][name] = new
    return result


def cpu_ratio(ours, theirs):
    """None when either side is below GNU time's 0.01 s resolution can tell apart."""
    return ours / theirs if ours >= 0.02 and theirs >= 0.02 else None


def load1(figures):
    """The 1-minute load average before a measurement ("" for derived rows)."""
    return figures.get("loadavg_before", "").split(" ")[0]


def fmt_int(n):
    return f"{n:,}"


def fmt_s(s):
    return f"{s:.2f}" if s < 100 else f"{s:.1f}"


def fmt_rate(r):
    return f"{r:,.0f}"


def fmt_mb(mb):
    return f"{mb:,.0f} MB" if mb >= 10 else f"{mb:.1f} MB"


MARKDOWN = {"on": False}   # report --markdown: tables as Markdown (for the README)


def table(headers, rows, align):
    """Aligned text table (or a Markdown one); align is a string of 'l'/'r' per column."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    if MARKDOWN["on"]:
        def line(cells):
            parts = [str(c).ljust(w) if a == "l" else str(c).rjust(w) for c, w, a in zip(cells, widths, align)]
            return "| " + " | ".join(parts) + " |"
        rule = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align)) + "|"
        return "\n" + "\n".join([line(headers), rule] + [line(r) for r in rows]) + "\n"
    def line(cells):
        parts = [str(c).ljust(w) if a == "l" else str(c).rjust(w) for c, w, a in zip(cells, widths, align)]
        return "  ".join(parts).rstrip()
    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def size_report(work, meta, rows, m):
    """Stages, references and quality for one size, as a dict (the JSON) and notes."""
    d = os.path.join(work, str(rows))
    stats = load_json(os.path.join(d, "rows", "stats.json"))
    splits = stats["splits"]
    epochs = int(meta["epochs"])
    train_rows, test_rows = splits["train"]["rows"], splits["test"]["rows"]
    stage_rows = {
        "ingest": rows, "hash": rows, "hash_caches": rows, "train": train_rows * epochs, "train_text": train_rows * epochs,
        "predict": test_rows, "eval": test_rows, "pipeline": rows,
    }
    stages = {}
    for name in ["ingest", "hash", "hash_caches", "train", "train_text", "predict", "eval", "pipeline"]:
        if name not in m:
            continue
        s = dict(m[name])
        s["rows"] = stage_rows[name]
        s["rows_per_s"] = stage_rows[name] / s["wall_s"] if s["wall_s"] > 0 else None
        stages[name] = s
    refs = {}
    for name in ["zcat", "igzip", "ffm_train", "ffm_predict", "sklearn_eval"]:
        if "ref_" + name in m:
            refs[name] = dict(m["ref_" + name])
    # CPU per epoch: the 4-epoch run less the 1-epoch run (set-up and text conversion cancel), / 3.
    def per_epoch(one, four):
        if one not in m or four not in m:
            return None
        return {"cpu_s": (m[four]["cpu_s"] - m[one]["cpu_s"]) / 3, "wall_s": (m[four]["wall_s"] - m[one]["wall_s"]) / 3,
                "runs": [m[one], m[four]]}
    if per_epoch("epochs_1", "epochs_4"):
        stages["train_epoch"] = per_epoch("epochs_1", "epochs_4")
        stages["train_epoch"]["rows"] = train_rows
        stages["train_epoch"]["compute_bound_cpu_s"] = train_compute_bound_cpu_s(meta, train_rows)
    if per_epoch("ref_ffm_epochs_1", "ref_ffm_epochs_4"):
        refs["ffm_epoch"] = per_epoch("ref_ffm_epochs_1", "ref_ffm_epochs_4")
    sk = load_json(os.path.join(d, "sklearn.json"))
    if sk is not None and "sklearn_eval" in refs:
        # Read + metrics, imports excluded; the process figure stays in the JSON.
        refs["sklearn_eval"]["process_wall_s"] = refs["sklearn_eval"]["wall_s"]
        refs["sklearn_eval"]["process_cpu_s"] = refs["sklearn_eval"]["cpu_s"]
        refs["sklearn_eval"]["wall_s"] = sk["seconds"]
        refs["sklearn_eval"]["cpu_s"] = sk["cpu_seconds"]
        refs["sklearn_eval"]["import_s"] = min(r["import_seconds"] for r in sk["runs"])
        refs["sklearn_eval"]["reader"] = sk["reader"]
        refs["sklearn_eval"]["version"] = sk["version"]
        ev = load_json(os.path.join(d, "eval.json"))
        agree = all(abs(ev[k] - sk[k]) <= 1e-9 * max(1, abs(sk[k])) for k in ["auc", "logloss", "calibration", "pr_auc", "brier"])
        rates = [b["observed_rate"] for b in ev["reliability"]["bins"]]
        agree = agree and len(rates) == len(sk["observed_rates"]) and all(
            abs(a - b) <= 1e-12 for a, b in zip(rates, sk["observed_rates"]))
        refs["sklearn_eval"]["metrics_agree"] = agree
    if "ffm_train" in refs:
        out_path = os.path.join(d, "libffm", "train.out")
        last = None
        if os.path.exists(out_path):
            for line in open(out_path):
                parts = line.split()
                if len(parts) >= 3 and parts[0].isdigit():
                    last = parts
        if last is not None:
            refs["ffm_train"]["va_logloss_last_epoch"] = float(last[2])
    # Our validation log loss after the same epochs (for the side-by-side with libffm).
    ep = load_json(os.path.join(d, "train-epochs.json"))
    if ep:
        stages["train"]["va_logloss_last_epoch"] = ep[-1].get("vaLogLoss")
        stages["train"]["epochs_run"] = len(ep)
    ep_text = load_json(os.path.join(d, "train-text-epochs.json"))
    if ep_text and "train_text" in stages:
        stages["train_text"]["va_logloss_last_epoch"] = ep_text[-1].get("vaLogLoss")
    manifest = load_json(os.path.join(d, "pipeline-work", "manifest.json"))
    if manifest is not None and "pipeline" in stages:
        stages["pipeline"]["manifest_stages"] = {
            st.get("name"): {"status": st.get("status"), "seconds": st.get("seconds")}
            for st in manifest.get("stages") or [] if isinstance(st, dict)
        }
        pm = load_json(os.path.join(d, "pipeline-work", "eval", "metrics.json"))
        if pm is not None:
            stages["pipeline"]["test_logloss"] = pm.get("logloss")
            stages["pipeline"]["test_auc"] = pm.get("auc")

    # Reference pairs: (stage, reference name, reference figures)
    pairs = []
    for stage, ref in [("ingest", "zcat"), ("hash", "zcat"), ("hash_caches", "zcat"), ("train", "ffm_train"), ("train_text", "ffm_train"),
                       ("predict", "ffm_predict"), ("eval", "sklearn_eval")]:
        if stage in stages and ref in refs:
            stages[stage]["reference"] = ref
            stages[stage]["time_ratio"] = stages[stage]["wall_s"] / refs[ref]["wall_s"]
            stages[stage]["cpu_ratio"] = cpu_ratio(stages[stage]["cpu_s"], refs[ref]["cpu_s"])
            stages[stage]["rss_ratio"] = (stages[stage]["peak_rss_mb"] / refs[ref]["peak_rss_mb"]
                                          if ref != "zcat" else None)
    if "pipeline" in stages:
        # The pipeline hashes as Pipelines/*.json do ("text": false): caches only.
        hash_stage = "hash_caches" if "hash_caches" in stages else "hash"
        parts = [s for s in ["ingest", hash_stage, "train", "predict", "eval"] if s in stages]
        total = sum(stages[s]["wall_s"] for s in parts)
        cpu = sum(stages[s]["cpu_s"] for s in parts)
        peak = max(stages[s]["peak_rss_mb"] for s in parts)
        refs["stages_sum"] = {"wall_s": total, "cpu_s": cpu, "peak_rss_mb": peak, "of": parts}
        stages["pipeline"]["reference"] = "stages_sum"
        stages["pipeline"]["time_ratio"] = stages["pipeline"]["wall_s"] / total
        stages["pipeline"]["cpu_ratio"] = cpu_ratio(stages["pipeline"]["cpu_s"], cpu)
        stages["pipeline"]["rss_ratio"] = stages["pipeline"]["peak_rss_mb"] / peak
    # Issue #18's figure: ingest + hash as the pipelines run it (caches only, "text": false);
    # ingest + hash writing the libffm text as well (for libffm) beside it.
    for key, hash_stage in [("ingest_hash", "hash_caches"), ("ingest_hash_text", "hash")]:
        if "ingest" in stages and hash_stage in stages and "zcat" in refs:
            w = stages["ingest"]["wall_s"] + stages[hash_stage]["wall_s"]
            c = stages["ingest"]["cpu_s"] + stages[hash_stage]["cpu_s"]
            stages[key] = {"wall_s": w, "cpu_s": c, "rows": rows, "rows_per_s": rows / w,
                           "peak_rss_mb": max(stages["ingest"]["peak_rss_mb"], stages[hash_stage]["peak_rss_mb"]),
                           "reference": "zcat", "time_ratio": w / refs["zcat"]["wall_s"],
                           "cpu_ratio": cpu_ratio(c, refs["zcat"]["cpu_s"]), "rss_ratio": None}

    # CPU seconds per million rows of every stage and of its reference (train: per epoch).
    per_million = {}
    for stage, ref in [("ingest", "zcat"), ("hash_caches", "zcat"), ("hash", "zcat"), ("ingest_hash", "zcat"),
                       ("ingest_hash_text", "zcat"), ("ingest", "igzip"), ("hash_caches", "igzip"), ("hash", "igzip"),
                       ("ingest_hash", "igzip"), ("ingest_hash_text", "igzip"), ("train_epoch", "ffm_epoch"),
                       ("predict", "ffm_predict"), ("eval", "sklearn_eval")]:
        if stage not in stages or not stages[stage].get("rows"):
            continue
        n = stages[stage]["rows"]
        # The reference reads the same rows: zcat the whole file, libffm the same train text,
        # ffm-predict and scikit-learn the same test rows.
        ours = stages[stage]["cpu_s"] * 1e6 / n
        theirs = refs[ref]["cpu_s"] * 1e6 / n if ref in refs else None
        per_million[f"{stage}/{ref}"] = {
            "stage": stage, "reference": ref, "cpu_s_per_mrow": ours, "ref_cpu_s_per_mrow": theirs,
            "cpu_ratio": cpu_ratio(stages[stage]["cpu_s"], refs[ref]["cpu_s"]) if ref in refs else None,
        }

    # Model quality on the test split.
    quality = None
    q = load_json(os.path.join(d, "quality.json"))
    if q is not None:
        models = {mm["model"]: mm for mm in q["models"]}
        pick = lambda mm: {k: mm.get(k) for k in ["logloss", "auc", "calibration", "ne", "ece", "calibration_slope"]}
        quality = {name: pick(mm) for name, mm in models.items()}
        bayes, const, ours = quality["bayes"]["logloss"], quality["constant"]["logloss"], quality["ctr-train"]["logloss"]
        quality["gap_closed"] = (const - ours) / (const - bayes)
        if "libffm" in quality:
            quality["libffm"]["gap_closed"] = (const - quality["libffm"]["logloss"]) / (const - bayes)
        quality["test_rows"] = q["rows"]
        quality["test_click_rate"] = q["click_rate"]
        quality["train_click_rate"] = splits["train"]["clicks"] / splits["train"]["rows"]
        quality["test_rows_check"] = meta.get(f"label_check_{rows}", "")
    synth = m.get("synth")
    raw_bytes = os.path.getsize(os.path.join(d, "raw.tsv.gz")) if os.path.exists(os.path.join(d, "raw.tsv.gz")) else None
    size_of = lambda *parts: os.path.getsize(os.path.join(d, *parts)) if os.path.exists(os.path.join(d, *parts)) else None
    if "train" in stages:
        stages["train"]["model_bytes"] = size_of("model.bin")
    if "ffm_train" in refs:
        refs["ffm_train"]["model_bytes"] = size_of("libffm", "model")
    return {
        "rows": rows, "gzip_bytes": raw_bytes, "splits": splits, "synth": synth,
        "stages": stages, "references": refs, "quality": quality, "cpu_per_million_rows": per_million,
    }


def train_compute_bound_cpu_s(meta, train_rows, fields=39):
    """The compute bound of one training epoch in CPU seconds (issue #18), printed beside the
    measured epoch: every field pair's forward pass and AdaGrad update, 84 flops a pair at k=4,
    taken as 6 cycles a pair 4-wide (SSE) for every 4 factors, at the processor's highest
    clock in /proc/cpuinfo. The same count as Benchmarks/train/run.sh's estimate."""
    try:
        with open("/proc/cpuinfo") as f:
            mhz = max(float(l.split(":")[1]) for l in f if l.startswith("cpu MHz"))
    except (OSError, ValueError):
        return None
    chunks = -(-int(meta["factors"]) // 4)
    pairs = fields * (fields - 1) // 2
    return train_rows * pairs * 6 * chunks / (mhz * 1e6)


def cpu_per_million_table(r):
    """CPU seconds per million rows of every stage next to its reference's, same run."""
    rows_out = []
    for key, e in r.get("cpu_per_million_rows", {}).items():
        label = STAGE_LABELS.get(e["stage"], e["stage"])
        theirs = e["ref_cpu_s_per_mrow"]
        rows_out.append([label, f"{e['cpu_s_per_mrow']:.2f}", REF_LABELS.get(e["reference"], e["reference"]),
                         f"{theirs:.2f}" if theirs is not None else "(skipped)",
                         f"{e['cpu_ratio']:.2f}" if e["cpu_ratio"] is not None else ""])
    epoch = r["stages"].get("train_epoch")
    if epoch is not None:
        bound = epoch.get("compute_bound_cpu_s")
        per_m = lambda s: s * 1e6 / epoch["rows"]
        rows_out.append(["train, compute bound", f"{per_m(bound):.2f}" if bound is not None else "(no clock in /proc/cpuinfo)",
                         "measured epoch", f"{per_m(epoch['cpu_s']):.2f}",
                         f"{bound / epoch['cpu_s']:.2f}" if bound is not None and epoch["cpu_s"] > 0 else ""])
    if not rows_out:
        return ""
    return table(["stage", "cpu s / M rows", "reference", "ref cpu s / M rows", "cpu x"], rows_out, "lrlrr")


STAGE_LABELS = {
    "ingest": "ingest", "hash": "hash (+ libffm text)", "hash_caches": "hash (caches only)",
    "ingest_hash": "ingest + hash (caches only)", "ingest_hash_text": "ingest + hash (+ libffm text)", "train": "train (cache)",
    "train_text": "train (.ffm text)", "predict": "predict", "eval": "eval", "pipeline": "whole pipeline",
    "train_epoch": "train, one epoch (text)",
}
REF_LABELS = {
    "zcat": "zcat > /dev/null", "igzip": "igzip -dc > /dev/null", "ffm_epoch": "libffm, one epoch", "ffm_train": "libffm ffm-train", "ffm_predict": "libffm ffm-predict",
    "sklearn_eval": "scikit-learn", "stages_sum": "stages above, summed",
}


def main_table(meta, r):
    stages, refs = r["stages"], r["references"]
    epochs = int(meta["epochs"])
    rows_out = []
    for name in ["ingest", "hash_caches", "hash", "ingest_hash", "ingest_hash_text", "train", "train_text", "predict", "eval",
                 "pipeline"]:
        if name not in stages:
            continue
        s = stages[name]
        if name in ("train", "train_text"):
            rows_cell = f"{fmt_int(s['rows'] // epochs)} x {epochs}"
        else:
            rows_cell = fmt_int(s["rows"])
        ref = s.get("reference")
        rf = refs.get(ref) if ref else None
        rows_out.append([
            STAGE_LABELS[name], rows_cell, fmt_s(s["wall_s"]), fmt_s(s["cpu_s"]), fmt_rate(s["rows_per_s"]),
            fmt_mb(s["peak_rss_mb"]),
            REF_LABELS.get(ref, "—") if rf else "(skipped)" if name in ("train", "train_text", "predict", "eval") else "—",
            fmt_s(rf["wall_s"]) if rf else "", fmt_s(rf["cpu_s"]) if rf else "", fmt_mb(rf["peak_rss_mb"]) if rf else "",
            f"{s['time_ratio']:.2f}" if rf else "",
            f"{s['cpu_ratio']:.2f}" if rf and s.get("cpu_ratio") is not None else "",
            f"{s['rss_ratio']:.2f}" if rf and s.get("rss_ratio") is not None else "",
            (load1(s) + (" / " + load1(rf) if rf and "loadavg_before" in rf else "")) if "loadavg_before" in s else "",
        ])
    return table(["stage", "rows", "wall s", "cpu s", "rows/s", "peak RSS", "reference", "ref wall s", "ref cpu s",
                  "ref RSS", "wall x", "cpu x", "RSS x", "load"], rows_out, "lrrrrrlrrrrrrl")


def quality_table(meta, r):
    q = r["quality"]
    lines = []
    order = [("bayes", "Bayes-optimal (true probabilities)"), ("ctr-train", "ctr-train model"),
             ("libffm", "libffm model (same settings)"), ("constant", "constant (train click rate)")]
    rows_out = []
    for key, label in order:
        if key not in q:
            continue
        mm = q[key]
        gap = (q["gap_closed"] if key == "ctr-train" else mm.get("gap_closed") if key == "libffm"
               else 1.0 if key == "bayes" else 0.0)
        rows_out.append([label, f"{mm['logloss']:.5f}", f"{mm['auc']:.5f}", f"{mm['calibration']:.4f}",
                         f"{mm['ne']:.4f}", f"{100 * gap:.1f}%"])
    lines.append(table(["predictor", "log loss", "AUC", "calibration", "NE", "gap closed"], rows_out, "lrrrrr"))
    lines.append(f"gap closed = (constant log loss - model log loss) / (constant - Bayes-optimal); "
                 f"train click rate {q['train_click_rate']:.5f}, test click rate {q['test_click_rate']:.5f}")
    if q.get("test_rows_check"):
        lines.append(q["test_rows_check"])
    return "\n".join(lines)


def scaling_table(small, big):
    rs = big["rows"] / small["rows"]
    rows_out = []
    ma, mb = small["stages"].get("train", {}).get("model_bytes"), big["stages"].get("train", {}).get("model_bytes")
    for name in ["ingest", "hash", "train", "predict", "eval", "pipeline"]:
        if name not in small["stages"] or name not in big["stages"]:
            continue
        a, b = small["stages"][name], big["stages"][name]
        cpu = cpu_ratio(b["cpu_s"], a["cpu_s"])
        rows_out.append([STAGE_LABELS[name], fmt_s(a["wall_s"]), fmt_s(b["wall_s"]), f"{b['wall_s'] / a['wall_s']:.2f}",
                         fmt_s(a["cpu_s"]), fmt_s(b["cpu_s"]), f"{cpu:.2f}" if cpu is not None else "",
                         fmt_mb(a["peak_rss_mb"]), fmt_mb(b["peak_rss_mb"]), f"{b['peak_rss_mb'] / a['peak_rss_mb']:.2f}"])
    sa, sb = fmt_int(small["rows"]), fmt_int(big["rows"])
    head = f"scaling: {sa} -> {sb} rows ({rs:g}x the rows; linear time is {rs:g}x, flat memory 1x)"
    if ma and mb:
        head += f"; ctr-train's model file: {ma / 1e6:.0f} MB -> {mb / 1e6:.0f} MB (index ranges sized from the training vocabulary)"
    return head + "\n" + table(["stage", f"wall s @{sa}", f"wall s @{sb}", "wall x", f"cpu s @{sa}", f"cpu s @{sb}", "cpu x",
                                f"RSS @{sa}", f"RSS @{sb}", "RSS x"], rows_out, "lrrrrrrrrr")


def report(work, out_path):
    meta = read_meta(work)
    measurements = read_measurements(work)
    sizes = [int(s) for s in meta["sizes"].split()]
    main_rows = int(meta["rows"])
    results = {size: size_report(work, meta, size, measurements.get(size, {})) for size in sizes}
    main = results[main_rows]
    text = []
    gz = f", {main['gzip_bytes'] / 1e6:.0f} MB gzip" if main["gzip_bytes"] else ""
    text.append(f"SwiftCTR benchmark: {fmt_int(main_rows)} Criteo-format rows from ctr-synth (seed {meta['seed']}{gz}); "
                f"order split 80/10/10")
    text.append(f"machine: {meta['cpu_model']}, nproc {meta['nproc']}, {meta['mem_gib']} GiB memory; "
                f"load average {meta['load_start']} at start, {meta['load_end']} at end (shared machine)")
    text.append(f"build: swift build -c release ({meta['swift_version']}), git {meta['git_rev']}")
    text.append(f"model: FFM k={meta['factors']}, eta {meta['eta']}, lambda {meta['lambda']}, {meta['epochs']} epochs "
                f"(fixed count, no early stopping; validation log loss and AUC computed every epoch), "
                f"{meta['threads']} threads, {'no ' if meta['linear'] == '0' else ''}bias and linear terms; "
                f"libffm gets the same k/eta/lambda/epochs/threads and the same validation file")
    tr = meta.get("train_repeats", "1")
    text.append(f"wall s: best of {meta['repeats']} run{'' if meta['repeats'] == '1' else 's'} (training runs and the pipeline: "
                f"{'1 run' if tr == '1' else 'best of ' + tr + ' rounds'}); "
                f"peak RSS: the largest of those runs (GNU time)")
    text.append("")
    text.append(main_table(meta, main))
    text.append("")
    per_million = cpu_per_million_table(main)
    if per_million:
        text.append("CPU seconds per million rows (user + system, all threads; train: per epoch, the 4-epoch run "
                    "less the 1-epoch run over 3, on the train .ffm text without validation)")
        text.append(per_million)
        text.append("")
    notes = []
    notes.append("train rows = training rows x epochs; rows/s counts row-epochs. train (cache) reads ctr-hash's binary "
                 "cache (the pipeline's path); train (.ffm text) reads the same text file as libffm (like for like).")
    notes.append("cpu s: user + system CPU seconds (all threads); on a loaded machine the cpu ratios are steadier "
                 "than the wall ones. load: the 1-minute load average before the stage / before its reference "
                 f"({meta['nproc']} cores).")
    notes.append("zcat: peak RSS of a pipe buffer, no ratio. ingest + hash: the two stages back to back vs one zcat. "
                 "hash (caches only) is ctr-hash --no-text, as the pipelines run it (\"text\": false): issue #18's "
                 "figure (goal <= 1.5x zcat's CPU, <= 1.0x with the ISAL build); hash (+ libffm text) also writes "
                 "the .ffm files that libffm and train (.ffm text) read.")
    sk = main["references"].get("sklearn_eval")
    if sk:
        notes.append(f"scikit-learn {sk['version']}: read both files ({sk['reader']}) + roc_auc_score, log_loss, "
                     f"sum p / sum y, average_precision_score, brier_score_loss, calibration_curve; wall excludes "
                     f"{sk['import_s']:.1f} s of imports (whole process {sk['process_wall_s']:.2f} s); "
                     f"metrics agree with ctr-eval to 1e-9: {'yes' if sk['metrics_agree'] else 'NO'}")
    if "ffm_train" in main["references"] and "va_logloss_last_epoch" in main["references"]["ffm_train"]:
        ours = main["stages"]["train"].get("va_logloss_last_epoch")
        theirs = main["references"]["ffm_train"]["va_logloss_last_epoch"]
        text_ll = main["stages"].get("train_text", {}).get("va_logloss_last_epoch")
        extra = f", from text {text_ll:.5f}" if text_ll is not None else ""
        notes.append(f"validation log loss after {meta['epochs']} epochs: ctr-train {ours:.5f}{extra}; "
                     f"libffm {theirs:.5f}")
    if "pipeline" in main["stages"]:
        pipe = main["stages"]["pipeline"]
        inner = pipe.get("manifest_stages") or {}
        inner_s = sum(v["seconds"] for v in inner.values() if isinstance(v.get("seconds"), (int, float)))
        split = (f" Its manifest's stage times: " + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in inner.items()
                                                           if isinstance(v.get("seconds"), (int, float)))
                 + f" (sum {inner_s:.1f} s of {pipe['wall_s']:.1f} s)." if inner else "")
        notes.append("whole pipeline: ctr-pipeline run on a generated pipeline JSON with the same stages and "
                     "parameters (fresh workdir, so every stage runs; its eval also writes the HTML report)." + split)
    for key in sorted(meta):
        if key.startswith("skipped_"):
            notes.append("skipped: " + meta[key])
    text.extend("- " + n for n in notes)
    if main["quality"]:
        text.append("")
        text.append(f"model quality on the test split ({fmt_int(main['quality']['test_rows'])} rows, "
                    f"the last 10% of the stream)")
        text.append(quality_table(meta, main))
    if len(sizes) > 1:
        text.append("")
        text.append(scaling_table(results[sizes[0]], results[sizes[-1]]))
    output = "\n".join(text)
    print(output)
    if out_path:
        doc = {
            "schema_version": 1,
            "generated": meta["date"],
            "command": meta["command"],
            "machine": {"cpu_model": meta["cpu_model"], "nproc": int(meta["nproc"]), "mem_gib": float(meta["mem_gib"]),
                        "load_start": meta["load_start"], "load_end": meta["load_end"]},
            "build": {"swift_version": meta["swift_version"], "git_rev": meta["git_rev"], "configuration": "release"},
            "settings": {
                **{k: int(meta[k]) for k in ["seed", "factors", "epochs", "threads", "repeats"]},
                "train_repeats": int(meta.get("train_repeats", "1")),
                "eta": float(meta["eta"]), "lambda": float(meta["lambda"]), "linear_terms": meta["linear"] == "1",
                "split": "order, valid 0.1, test 0.1", "epochs_mode": "fixed (no early stopping)",
            },
            "skipped": [meta[k] for k in sorted(meta) if k.startswith("skipped_")],
            "main_rows": main_rows,
            "sizes": [results[s] for s in sizes],
        }
        if len(sizes) > 1:
            a, b = results[sizes[0]], results[sizes[-1]]
            doc["scaling"] = {
                "rows": [a["rows"], b["rows"]],
                "stages": {n: {"time_ratio": b["stages"][n]["wall_s"] / a["stages"][n]["wall_s"],
                               "cpu_ratio": cpu_ratio(b["stages"][n]["cpu_s"], a["stages"][n]["cpu_s"]),
                               "rss_ratio": b["stages"][n]["peak_rss_mb"] / a["stages"][n]["peak_rss_mb"]}
                           for n in ["ingest", "hash", "train", "predict", "eval", "pipeline"]
                           if n in a["stages"] and n in b["stages"]},
            }
        tmp = out_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, out_path)
        print(f"\nresults written to {out_path}")


def main(argv):
    if len(argv) >= 1 and argv[0] == "sklearn-eval" and len(argv) == 4:
        sklearn_eval(*argv[1:])
    elif len(argv) >= 2 and argv[0] == "report":
        args = argv[2:]
        if "--markdown" in args:
            MARKDOWN["on"] = True
            args.remove("--markdown")
        out = None
        if len(args) == 2 and args[0] == "--out":
            out = args[1]
        elif args:
            sys.exit("usage: bench.py report WORK [--out results.json] [--markdown]")
        report(argv[1], out)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
