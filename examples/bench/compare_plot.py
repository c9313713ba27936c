#!/usr/bin/python3
"""Plots of a `transport_bench --compare` run, from the files it wrote.

  compare_plot.py RESULTS_DIR [--out DIR] [--format png,svg]

Reads RESULTS_DIR/compare.json and RESULTS_DIR/latency_cdf.csv and writes
into DIR (default RESULTS_DIR):

  cdf-<workload>.png       latency CDFs: one panel per condition, one line
                           per transport (log time axis)
  p99-vs-loss.png          the rr workload's p99 against the loss rate, one
                           line per transport (Bernoulli loss; burst loss
                           as separate points)
  delivery-vs-loss.png     the share of messages delivered against the loss
                           rate, same axes
  stale-vs-loss.png        the stream's p99 staleness against the loss rate

and the same as SVG with --format png,svg.  Needs matplotlib (Debian's
python3-matplotlib, installed by scripts/setup.sh); run it with
/usr/bin/python3.
"""
import argparse
import csv
import json
import os
import re
import sys

TRANSPORT_STYLE = {  # one look per transport in every figure
    "tcp": ("#1f77b4", "-"), "tls": ("#17becf", "--"), "ws": ("#2ca02c", "-"),
    "wss": ("#98df8a", "--"), "unix": ("#7f7f7f", ":"), "udp": ("#d62728", "-"),
    "rudp": ("#ff7f0e", "-"),
}


def loss_of(condition):
    """The loss rate a condition's name stands for (clean: 0), or None."""
    if condition == "clean":
        return 0.0
    m = re.fullmatch(r"(loss|burst)-([0-9.]+)%", condition)
    return float(m.group(2)) if m else None


def is_burst(condition):
    return "burst-" in condition


def load(results):
    with open(os.path.join(results, "compare.json")) as f:
        run = json.load(f)
    cdfs = {}
    path = os.path.join(results, "latency_cdf.csv")
    if os.path.exists(path):
        with open(path) as f:
            for row in csv.DictReader(f):
                key = (row["transport"], row["condition"], row["workload"])
                cdfs.setdefault(key, []).append((float(row["latency_ms"]), float(row["quantile"])))
    return run, cdfs


def save(fig, out, name, formats):
    written = []
    for ext in formats:
        path = os.path.join(out, "%s.%s" % (name, ext))
        fig.savefig(path, dpi=110, bbox_inches="tight")
        written.append(path)
    return written


def subtitle(run):
    return "%s, seed %s, via %s" % (run.get("machine", "?"), run.get("seed", "?"),
                                     run.get("via", "?"))


def plot_cdfs(plt, ticker, run, cdfs, out, formats):
    written = []
    cells = [c for c in run["cells"] if c.get("status") == "ok"]
    for workload in sorted({c["workload"] for c in cells}):
        conditions = []
        for c in cells:
            if c["workload"] == workload and c["condition"] not in conditions:
                conditions.append(c["condition"])
        cols = min(3, len(conditions))
        rows = (len(conditions) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
        for i, condition in enumerate(conditions):
            ax = axes[i // cols][i % cols]
            for c in cells:
                if c["workload"] != workload or c["condition"] != condition:
                    continue
                points = cdfs.get((c["transport"], condition, workload))
                if not points:
                    continue
                color, dash = TRANSPORT_STYLE.get(c["transport"], (None, "-"))
                ax.plot([p[0] for p in points], [p[1] for p in points], dash, color=color,
                        label=c["transport"])
            ax.set_xscale("log")
            plain = ticker.FuncFormatter(lambda v, _: "%g" % v)
            ax.xaxis.set_major_formatter(plain)
            low, high = ax.get_xlim()
            # Within one decade the minor ticks are the only labels; across
            # several, they would crowd.
            ax.xaxis.set_minor_formatter(plain if high / max(low, 1e-9) < 12 else ticker.NullFormatter())
            ax.tick_params(axis="x", which="minor", labelsize=7)
            ax.set_title(condition, fontsize=10)
            ax.set_xlabel("latency (ms)", fontsize=8)
            ax.set_ylabel("share of messages", fontsize=8)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        for j in range(len(conditions), rows * cols):
            axes[j // cols][j % cols].axis("off")
        fig.suptitle("%s latency CDF per condition (%s)" % (workload, subtitle(run)), fontsize=11)
        fig.tight_layout()
        written += save(fig, out, "cdf-" + workload, formats)
        plt.close(fig)
    return written


def plot_vs_loss(plt, ticker, run, out, formats, workload, field, scale, ylabel, name, log):
    series = {}
    for c in run["cells"]:
        if c.get("status") != "ok" or c["workload"] != workload:
            continue
        loss = loss_of(c["condition"])
        if loss is None:
            continue
        kind = "burst" if is_burst(c["condition"]) else "bernoulli"
        series.setdefault((c["transport"], kind), []).append((loss, c[field] * scale))
    if not series:
        return []
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (transport, kind), points in sorted(series.items()):
        points.sort()
        color, dash = TRANSPORT_STYLE.get(transport, (None, "-"))
        if kind == "bernoulli":
            ax.plot([p[0] for p in points], [p[1] for p in points], dash, marker="o",
                    color=color, label=transport)
        else:
            ax.plot([p[0] for p in points if p[0] > 0], [p[1] for p in points if p[0] > 0],
                    linestyle="none", marker="x", markersize=9, color=color,
                    label=transport + " (bursts)")
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("loss per direction (%)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("%s: %s (%s)" % (workload, ylabel, subtitle(run)), fontsize=10)
    written = save(fig, out, name, formats)
    plt.close(fig)
    return written


def main():
    parser = argparse.ArgumentParser(description="Plots of a transport_bench --compare run.")
    parser.add_argument("results", help="the directory transport_bench --compare wrote")
    parser.add_argument("--out", help="where the plots go (default: the results directory)")
    parser.add_argument("--format", default="png,svg", help="png, svg or both (png,svg)")
    parser.add_argument("--quiet", action="store_true", help="do not list the files written")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker as ticker
    except ImportError:
        print("compare_plot: needs matplotlib (Debian's python3-matplotlib; scripts/setup.sh "
              "installs it); run with /usr/bin/python3", file=sys.stderr)
        return 2
    try:
        run, cdfs = load(args.results)
    except (OSError, ValueError, KeyError) as e:
        print("compare_plot: cannot read %s: %s" % (args.results, e), file=sys.stderr)
        return 1
    out = args.out or args.results
    os.makedirs(out, exist_ok=True)
    formats = [f for f in args.format.split(",") if f]
    written = plot_cdfs(plt, ticker, run, cdfs, out, formats)
    written += plot_vs_loss(plt, ticker, run, out, formats, "rr", "p99_ms", 1, "p99 round trip (ms)",
                            "p99-vs-loss", log=True)
    written += plot_vs_loss(plt, ticker, run, out, formats, "rr", "delivery", 100,
                            "messages delivered (%)", "delivery-vs-loss", log=False)
    written += plot_vs_loss(plt, ticker, run, out, formats, "stream", "staleness_p99_ms", 1,
                            "p99 staleness of the newest update (ms)", "stale-vs-loss", log=True)
    if not args.quiet:
        for path in written:
            print("compare_plot: wrote " + path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
