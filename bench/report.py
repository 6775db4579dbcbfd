#!/usr/bin/env python3
"""Merges one bench/run into a report: bench/results/<date>.md + a latency SVG.

    bench/report.py WORK_DIR OUT_MD OUT_SVG

WORK_DIR is what bench/run filled: machine.env and steps.tsv (its own
notes), segmenter.json (Google Benchmark's JSON), and one RESULTS_DIR per
script (origin/, ingest/, idle/, e2e/, stream1000/, stream5000/, nchan/)
holding the markdown each
script wrote, plus idle.env (bench/idle_rooms.sh's KEY=VALUE lines). The
summary table lists every DESIGN §9 target with its figure and verdict;
figures come from the scripts' own tables, not from re-measuring. Python's
standard library only.
"""
import glob
import json
import math
import os
import re
import sys


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def env(path):
    out = {}
    for line in read(path).splitlines():
        k, sep, v = line.partition("=")
        if sep and re.fullmatch(r"[A-Z_0-9]+", k):
            out[k] = v
    return out


def md_of(work, step):
    """The newest markdown a script wrote: its title and its last run."""
    files = sorted(glob.glob(os.path.join(work, step, "*.md")))
    if not files:
        return ""
    parts = re.split(r"(?m)^(?=## Run at)", read(files[-1]))
    return parts[0] + parts[-1] if len(parts) > 1 else parts[0]


def tables(md):
    """Every markdown table as (header cells, rows of cells)."""
    out, cur = [], None
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cur is None:
                cur = (cells, [])
                out.append(cur)
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                cur[1].append(cells)
        else:
            cur = None
    return out


def table_with(md, *names):
    for header, rows in tables(md):
        if all(n in header for n in names):
            return [dict(zip(header, r)) for r in rows]
    return []


def num(s):
    m = re.search(r"-?[\d.]+", (s or "").replace(",", ""))
    try:
        return float(m.group()) if m else None
    except ValueError:
        return None


def verdict(ok):
    if ok is None:
        return "not measured"
    if isinstance(ok, str):
        return ok
    return "met" if ok else "**not met**"


class Summary:
    def __init__(self):
        self.rows = []

    def add(self, target, figure, ok, note=""):
        self.rows.append((target, figure, verdict(ok), note))

    def markdown(self):
        out = ["| DESIGN §9 target | measured | verdict | notes |", "|---|---|---|---|"]
        out += ["| %s | %s | %s | %s |" % r for r in self.rows]
        return "\n".join(out)


def e2e_rows(md, mode):
    rows = table_with(md, "cache", "mode", "followers", "p50 ms", "p99 ms")
    return [r for r in rows if r["mode"].startswith(mode)]


def row_at(rows, cache, n):
    return next((r for r in rows if r["cache"] == cache and int(num(r["followers"])) == n), None)


def offload(s, a, b, target):
    """Origin offload from row a to row b: segment fetches a bucket (the
    buckets a second are the same in both runs, so their ratio is that of
    the fetch rates), else the origin's GET/s, which also counts what the
    window's edges catch of other requests."""
    x, y = num(a.get("origin GETs per bucket")), num(b.get("origin GETs per bucket"))
    gx, gy = num(a.get("origin GET/s")), num(b.get("origin GET/s"))
    if x and y is not None:
        s.add(target, f"{x:g} → {y:g} origin GETs a bucket = {y / x:.2f}×", y / x <= 1.1,
              f"origin GET/s {gx:g} → {gy:g}" if gx is not None and gy is not None else "")
    elif gx and gy is not None:
        s.add(target, f"{gx:g} → {gy:g} GET/s = {gy / gx:.2f}×", gy / gx <= 1.1)


def e2e_targets(s, e2e):
    """DESIGN §9 for held buckets: nginx (no shared streaming) at D = 250 ms."""
    bucket = e2e_rows(e2e, "bucket")
    if not bucket:
        for t in ("End-to-end through nginx, held buckets at D = 250 ms: p99 ≤ 800 ms",
                  "Origin requests/s flat (≤ 1.1×) through nginx, 100 → 2,000 followers"):
            s.add(t, "—", None, "bench/e2e.sh did not run")
        return
    top = max(int(num(r["followers"])) for r in bucket)
    low = min(int(num(r["followers"])) for r in bucket)
    g = row_at(bucket, "nginx", top)
    if g:
        p99 = num(g["p99 ms"])
        s.add(f"End-to-end through nginx, held buckets, {top:,} followers: p99 ≤ 800 ms",
              f"{p99:g} ms", p99 <= 800)
    for cache in ("nginx", "varnish"):
        a, b = row_at(bucket, cache, low), row_at(bucket, cache, top)
        if a and b:
            offload(s, a, b, f"Origin requests/s flat (≤ 1.1×), {low:,} → {top:,} followers, {cache} (held)")
    if g and "CDN requests per viewer-hour" in g:
        s.add(f"CDN requests per viewer-hour, nginx, held buckets, {top:,} followers",
              g["CDN requests per viewer-hour"], "reported", "goal 3,600/D[s] = 14,400 at D = 250 ms")


def stream_targets(s, stream, stream5000, nchan):
    """DESIGN §9 with live segments: streaming through Varnish at D = 1000 ms."""
    rows = e2e_rows(stream, "stream")
    if not rows:
        s.add("Streaming through Varnish, D = 1000 ms, 2,000 followers: p50 ≤ 30 ms, p99 ≤ 100 ms",
              "—", None, "bench/e2e.sh MODE=stream did not run")
        return
    counts = sorted(int(num(r["followers"])) for r in rows if r["cache"] == "varnish")
    if not counts:
        return
    low, top = counts[0], counts[-1]
    at = 2000 if 2000 in counts else top
    v = row_at(rows, "varnish", at)
    p50, p99 = num(v["p50 ms"]), num(v["p99 ms"])
    s.add(f"Streaming through Varnish, D = 1000 ms, {at:,} followers: p50 ≤ 30 ms", f"{p50:g} ms", p50 <= 30)
    s.add("… and p99 ≤ 100 ms", f"{p99:g} ms", p99 <= 100)
    a, b = row_at(rows, "varnish", low), row_at(rows, "varnish", top)
    x, y = num(a["p99 ms"]), num(b["p99 ms"])
    if x and y is not None:
        s.add(f"Streaming flat, {low:,} → {top:,} followers: p99 at {top:,} ≤ 1.5× p99 at {low:,}",
              f"{x:g} → {y:g} ms = {y / x:.2f}×", y / x <= 1.5,
              "" if top >= 5000 else "5,000 followers not run")
    if "origin GETs per bucket" in a:
        per = [num(r["origin GETs per bucket"]) for r in rows if r["cache"] == "varnish"]
        s.add(f"About one origin request per bucket, Varnish, {low:,} → {top:,} followers",
              " / ".join(f"{p:g}" for p in per), all(p is not None and p <= 1.1 for p in per),
              "read as ≤ 1.1 a bucket at every count")
    offload(s, a, b, f"Origin requests/s flat (≤ 1.1×), {low:,} → {top:,} followers, Varnish (streaming)")
    for md, d in ((stream, 1000), (stream5000, 5000)):
        r = row_at(e2e_rows(md, "stream"), "varnish", at) if md else None
        if r and "CDN requests per viewer-hour" in r:
            s.add(f"CDN requests per viewer-hour, streaming, D = {d} ms, {at:,} followers",
                  r["CDN requests per viewer-hour"], "reported",
                  f"goal 3,600/D[s] = {3600000 // d:,}, plus the manifest at join; "
                  f"p50 / p99 {r['p50 ms']} / {r['p99 ms']} ms")
    ws = [r for r in table_with(nchan, "mode", "subscribers", "p50 ms", "p99 ms") if r["mode"] == "websocket"]
    w = next((r for r in ws if int(num(r["subscribers"])) == at), None)
    if w:
        s.add(f"Side by side: nchan WebSocket, {at:,} subscribers, same rate",
              f"p50 {w['p50 ms']} / p99 {w['p99 ms']} ms", "reported",
              f"roomcast streaming p50 {p50:g} / p99 {p99:g} ms")


def nchan_targets(s, nchan):
    rows = table_with(nchan, "followers", "cache")
    ratio_cols = [c for c in (rows[0].keys() if rows else []) if c.startswith("publisher+origin / nchan")]
    if not rows or not ratio_cols:
        s.add("Publisher + origin CPU ≤ 0.1× nchan's at 2,000 followers", "—", None,
              "bench/nchan.sh did not run")
        return
    top = max(int(num(r["followers"])) for r in rows)
    for r in rows:
        if int(num(r["followers"])) != top:
            continue
        for c in ratio_cols:
            x = num(r[c])
            s.add(f"Publisher + origin CPU per message ≤ 0.1× nchan's, {top:,} followers "
                  f"({r['cache']}; {c.split('nchan ')[-1]})", f"{x:g}×", x <= 0.1)
    for line in nchan.splitlines():
        m = re.search(r"Growth of CPU seconds from (\d+) to (\d+) followers: roomcast publisher \+ origin "
                      r"\(through ([\w ]+)\) ([\d.]+) → ([\d.]+) s = ([\d.]+)×(.*)", line)
        if m:
            others = re.findall(r"nchan (\w+) [\d.]+ → [\d.]+ s = ([\d.]+)×", m.group(7))
            g = float(m.group(6))
            s.add(f"Publisher + origin CPU flat as followers grow ({m.group(1)} → {m.group(2)}, "
                  f"{m.group(3)}) while nchan's grows", f"{g:g}× (nchan: " +
                  ", ".join(f"{k} {v}×" for k, v in others) + ")", g <= 1.25,
                  "flat read as ≤ 1.25× over a 20× growth")


def origin_targets(s, origin):
    m = re.search(r"2 KB: origin/nginx = \*\*([\d.]+)\*\*", origin)
    c = re.search(r"nginx/origin \(.*?\): 2 KB \*\*([\d.]+)\*\*", origin)
    note = f"server CPU per request nginx/origin {c.group(1)}" if c else ""
    if m:
        s.add("Origin GET of a 2 KB segment ≥ 0.9× nginx static (req/s)", f"{float(m.group(1)):g}×",
              float(m.group(1)) >= 0.9, note)
    else:
        s.add("Origin GET of a 2 KB segment ≥ 0.9× nginx static", "—", None, "bench/origin_get.sh failed")


def ingest_targets(s, ingest):
    b = re.search(r"Batched \(JSON\): \*\*(\d+) messages/s\*\*", ingest)
    one = re.search(r"Single-message POSTs: \*\*([\d.]+)× nginx\*\*", ingest)
    s.add("Durable ingest in batches ≥ 100,000 messages/s", f"{int(b.group(1)):,} messages/s" if b else "—",
          int(b.group(1)) >= 100000 if b else None, "fsync on; JSON bodies of 100")
    s.add("Single-message POSTs ≥ 0.5× nginx answering a trivial request",
          f"{float(one.group(1)):g}×" if one else "—", float(one.group(1)) >= 0.5 if one else None)


def segmenter_figures(work):
    data = json.loads(read(os.path.join(work, "segmenter.json")) or "{}")
    return {b["name"]: b for b in data.get("benchmarks", [])}, data.get("context", {})


def segmenter_targets(s, bm):
    enc = bm.get("BM_BuildAndEncode/100")
    pure = bm.get("BM_Encode/100")
    if enc:
        mps = enc.get("items_per_second", 0) / 1e6
        note = f"serialization + digest alone: {pure['items_per_second'] / 1e6:.1f} M/s" if pure else ""
        s.add("Segmenter encode ≥ 5 M messages/s/core (build + encode, 100 per segment)",
              f"{mps:.1f} M/s", mps >= 5, note)
    else:
        s.add("Segmenter encode ≥ 5 M messages/s/core", "—", None, "segmenter_bench did not run")
    figs = []
    for n in (10, 100):
        b = bm.get(f"BM_BytesPerComment/{n}/iterations:20")
        if b:
            figs.append(f"{n}/segment: {b['pb_gzip_B_per_msg']:.1f} B vs {b['jsonl_gzip_B_per_msg']:.1f} B "
                        f"({b['gzip_ratio_pb_vs_jsonl']:.2f}×)")
    s.add("Wire bytes per comment (gzip) vs gzipped JSON lines", "; ".join(figs) or "—",
          "reported" if figs else None, "no threshold; compressed protobuf vs compressed JSON")


def idle_targets(s, idle):
    if not idle.get("PUBLISHER_IDLE_CPU_PCT"):
        s.add("100,000 idle rooms: ≤ 5% of a core", "—", None, "bench/idle_rooms.sh failed")
        s.add("100,000 idle rooms: ≤ 2 KB per room", "—", None, "")
        return
    n = int(idle["ROOMS"])
    cpu, b = float(idle["PUBLISHER_IDLE_CPU_PCT"]), int(idle["PUBLISHER_BYTES_PER_ROOM"])
    s.add(f"{n:,} idle open rooms: publisher ≤ 5% of a core", f"{cpu:g}% of a core", cpu <= 5,
          f"{idle.get('PUBLISHER_BASE_CPU_PCT', '?')}% with no room")
    s.add(f"{n:,} idle open rooms: ≤ 2 KB memory per room", f"{b:,} B/room (publisher RSS)", b <= 2048,
          f"origin {idle.get('ORIGIN_BYTES_PER_ROOM', '?')} B/room")


def segmenter_table(bm, context):
    if not bm:
        return "segmenter_bench did not run.\n"
    out = [f"Google Benchmark, `--benchmark_min_time` short (figures from one run; "
           f"{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz).\n",
           "| benchmark | time per iteration | messages/s |", "|---|---:|---:|"]
    for name, b in bm.items():
        if "items_per_second" in b:
            out.append(f"| {name} | {b['real_time']:.0f} {b.get('time_unit', 'ns')} | "
                       f"{b['items_per_second'] / 1e6:.2f} M |")
    out += ["", "| messages per segment | protobuf B/msg | protobuf gzip B/msg | JSON lines B/msg | "
                "JSON lines gzip B/msg | gzip pb / gzip JSON |", "|---:|---:|---:|---:|---:|---:|"]
    for n in (10, 100):
        b = bm.get(f"BM_BytesPerComment/{n}/iterations:20")
        if b:
            out.append(f"| {n} | {b['pb_B_per_msg']:.1f} | {b['pb_gzip_B_per_msg']:.1f} | "
                       f"{b['jsonl_B_per_msg']:.1f} | {b['jsonl_gzip_B_per_msg']:.1f} | "
                       f"{b['gzip_ratio_pb_vs_jsonl']:.2f} |")
    return "\n".join(out) + "\n"


def demote(md):
    """A script's report without its title, headings one level down."""
    lines = md.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join("#" + l if re.match(r"#{1,5} ", l) else l for l in lines).strip() + "\n"


# --- the latency plot ----------------------------------------------------------

def latency_series(e2e, stream, nchan):
    """(label, colour, dash, [(followers, p50, p99)]) for each delivery path."""
    out = []
    rows = table_with(stream, "cache", "mode", "followers", "p50 ms", "p99 ms")
    pts = [(int(num(r["followers"])), num(r["p50 ms"]), num(r["p99 ms"]))
           for r in rows if r["cache"] == "varnish" and r["mode"] == "stream"]
    if pts:
        out.append(("roomcast streaming via varnish", "#1f77b4", "", sorted(pts)))
    rows = table_with(e2e, "cache", "mode", "followers", "p50 ms", "p99 ms")
    for cache, colour in (("nginx", "#2ca02c"),):
        pts = [(int(num(r["followers"])), num(r["p50 ms"]), num(r["p99 ms"]))
               for r in rows if r["cache"] == cache and r["mode"].startswith("bucket")]
        if pts:
            out.append((f"roomcast held via {cache}", colour, "", sorted(pts)))
    rows = table_with(nchan, "mode", "subscribers", "p50 ms", "p99 ms")
    for mode, colour in (("longpoll", "#d62728"), ("websocket", "#9467bd")):
        pts = [(int(num(r["subscribers"])), num(r["p50 ms"]), num(r["p99 ms"]))
               for r in rows if r["mode"] == mode]
        if pts:
            out.append((f"nchan {mode}", colour, "6,4", sorted(pts)))
    return out


def svg(series, title):
    w, h, left, right, top, bottom = 760, 440, 70, 200, 40, 50
    pw, ph = w - left - right, h - top - bottom
    xs = sorted({p[0] for _, _, _, pts in series for p in pts})
    vals = [v for _, _, _, pts in series for p in pts for v in p[1:] if v and v > 0]
    lo = 10 ** math.floor(math.log10(min(vals + [1])))
    hi = 10 ** math.ceil(math.log10(max(vals + [1000])))

    def X(f):
        i = xs.index(f)
        return left + (pw * i / (len(xs) - 1) if len(xs) > 1 else pw / 2)

    def Y(v):
        v = max(v, lo)
        return top + ph - ph * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    e = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{left}" y="22" font-size="14" font-weight="bold">{title}</text>']
    d = lo
    while d <= hi:
        y = Y(d)
        e.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        e.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{d:g}</text>')
        d *= 10
    for f in xs:
        e.append(f'<text x="{X(f):.1f}" y="{top + ph + 18}" text-anchor="middle">{f:,}</text>')
    e.append(f'<text x="{left + pw / 2}" y="{h - 10}" text-anchor="middle">followers / subscribers</text>')
    e.append(f'<text x="16" y="{top + ph / 2}" transform="rotate(-90 16 {top + ph / 2})" '
             f'text-anchor="middle">latency, ms (log)</text>')
    e.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    for v, label in ((30, "streaming p50 target"), (100, "streaming p99 target"), (800, "nginx p99 target")):
        if lo <= v <= hi:
            e.append(f'<line x1="{left}" y1="{Y(v):.1f}" x2="{left + pw}" y2="{Y(v):.1f}" '
                     f'stroke="#f90" stroke-dasharray="2,3"/>')
            e.append(f'<text x="{left + pw - 4}" y="{Y(v) - 3:.1f}" text-anchor="end" fill="#c60" '
                     f'font-size="10">{label} {v} ms</text>')
    ly = top + 10
    for label, colour, dash, pts in series:
        for k, width, op in ((1, 2, 1.0), (2, 1.5, 0.6)):  # p50 solid-ish, p99 lighter
            path = " ".join(f"{'M' if i == 0 else 'L'}{X(p[0]):.1f},{Y(p[k]):.1f}"
                            for i, p in enumerate(pts) if p[k])
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            e.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width}" '
                     f'opacity="{op}"{dash_attr}/>')
            for p in pts:
                if p[k]:
                    shape = (f'<circle cx="{X(p[0]):.1f}" cy="{Y(p[k]):.1f}" r="3" fill="{colour}" opacity="{op}"/>'
                             if k == 1 else
                             f'<rect x="{X(p[0]) - 3:.1f}" y="{Y(p[k]) - 3:.1f}" width="6" height="6" '
                             f'fill="{colour}" opacity="{op}"/>')
                    e.append(shape)
        e.append(f'<line x1="{left + pw + 12}" y1="{ly}" x2="{left + pw + 36}" y2="{ly}" stroke="{colour}" '
                 f'stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        e.append(f'<text x="{left + pw + 42}" y="{ly + 4}">{label}</text>')
        ly += 20
    e.append(f'<circle cx="{left + pw + 24}" cy="{ly + 6}" r="3" fill="#555"/>'
             f'<text x="{left + pw + 42}" y="{ly + 10}">p50</text>')
    e.append(f'<rect x="{left + pw + 21}" y="{ly + 20}" width="6" height="6" fill="#555" opacity="0.6"/>'
             f'<text x="{left + pw + 42}" y="{ly + 28}">p99</text>')
    e.append("</svg>")
    return "\n".join(e) + "\n"


def main():
    work, out_md, out_svg = sys.argv[1:4]
    m = env(os.path.join(work, "machine.env"))
    idle = env(os.path.join(work, "idle.env"))
    bm, context = segmenter_figures(work)
    origin, ingest = md_of(work, "origin"), md_of(work, "ingest")
    idle_md, e2e, nchan = md_of(work, "idle"), md_of(work, "e2e"), md_of(work, "nchan")
    stream, stream5000 = md_of(work, "stream1000"), md_of(work, "stream5000")

    s = Summary()
    stream_targets(s, stream, stream5000, nchan)
    e2e_targets(s, e2e)
    nchan_targets(s, nchan)
    origin_targets(s, origin)
    ingest_targets(s, ingest)
    segmenter_targets(s, bm)
    idle_targets(s, idle)

    series = latency_series(e2e, stream, nchan)
    plot = ""
    if series:
        with open(out_svg, "w", encoding="utf-8") as f:
            f.write(svg(series, "Acked POST → decoded, by followers (streaming D = 1000 ms; held D = 250 ms)"))
        plot = (f"![end-to-end latency]({os.path.basename(out_svg)})\n\n"
                "Circles p50, squares p99; roomcast streaming through Varnish (D = 1000 ms), held "
                "buckets through nginx (D = 250 ms), and nchan's subscribers, from the tables below.\n")

    steps = [l.split("\t") for l in read(os.path.join(work, "steps.tsv")).splitlines() if l]
    load_note = ""
    try:
        # Only the state before the run says whether something else was
        # running: the runs' own threads (thousands of followers, a Varnish
        # worker per stream) push the load average after far above 2. The
        # cores' busy share just before (BUSY_BEFORE) says it best: the load
        # average trails by minutes, so an earlier bench's threads show in it
        # on an idle machine.
        busy = m.get("BUSY_BEFORE", "")
        load_before = float(m.get("LOAD_BEFORE", "0").split()[0])
        shared = (f"its cores {busy}% busy just before it started" if busy and float(busy) > 25
                  else "load average above its 2 cores before it started" if not busy and load_before > 2
                  else "")
        if shared:
            load_note = (f" **The machine was shared during this run** ({shared}), so throughput "
                         "figures and latency tails are noisy; CPU-per-request figures hold up better "
                         "than rates.")
        elif busy and load_before > 2:
            load_note = (f" Nothing else ran (cores {busy}% busy just before the start): the load "
                         "average before is what an earlier run's threads left in it.")
        elif float(m.get("LOAD_AFTER", "0").split()[0]) > 2:
            load_note = (" Nothing else ran: the load average after the run comes from its own threads "
                         "(followers, and a Varnish worker thread per open stream).")
    except ValueError:
        pass
    doc = [f"# roomcast benchmarks, {m.get('DATE', '?')}", "",
           f"`{m.get('COMMAND', 'bench/run')}` at commit {m.get('COMMIT', '?')}{m.get('DIRTY', '')}, "
           f"started {m.get('STARTED', '?')}, took {m.get('ELAPSED', '?')} s. Loopback only; each "
           "script pins servers to core 0 and load generators to core 1.", "",
           "| machine | |", "|---|---|",
           f"| CPU | {m.get('CPU', '?')} |", f"| cores (nproc) | {m.get('NPROC', '?')} |",
           f"| memory | {m.get('MEM', '?')} |", f"| kernel | {m.get('KERNEL', '?')} |",
           f"| load average before / after | {m.get('LOAD_BEFORE', '?')} / {m.get('LOAD_AFTER', '?')} |",
           *([f"| cores busy just before (3 s) | {m['BUSY_BEFORE']}% |"] if m.get("BUSY_BEFORE") else []),
           "", "## Summary", "", load_note.strip(), "",
           s.markdown(), "", plot,
           "| step | status | seconds |", "|---|---|---:|"]
    doc += [f"| {st[0]} | {st[1]} | {st[2] if len(st) > 2 else ''} |" for st in steps]
    sections = [("Segmenter (`segmenter_bench`)", segmenter_table(bm, context)),
                ("Origin GET vs nginx (`bench/origin_get.sh`)", demote(origin) if origin else "Did not run.\n"),
                ("Durable ingest (`bench/ingest.sh`)", demote(ingest) if ingest else "Did not run.\n"),
                ("Idle open rooms (`bench/idle_rooms.sh`)", demote(idle_md) if idle_md else "Did not run.\n"),
                ("End to end, streaming through Varnish, D = 1000 ms (`MODE=stream bench/e2e.sh`)",
                 demote(stream) if stream else "Did not run.\n"),
                ("End to end, streaming through Varnish, D = 5000 ms (`MODE=stream BUCKET_MS=5000 bench/e2e.sh`)",
                 demote(stream5000) if stream5000 else "Did not run.\n"),
                ("End to end, held buckets through Varnish and nginx, D = 250 ms (`bench/e2e.sh`)",
                 demote(e2e) if e2e else "Did not run.\n"),
                ("nchan, the push-server reference (`bench/nchan.sh`)", demote(nchan) if nchan else "Did not run.\n")]
    for title, body in sections:
        doc += ["", f"## {title}", "", body.rstrip()]
    with open(out_md, "w", encoding="utf-8") as f:
        f.write("\n".join(doc).replace("\n\n\n", "\n\n") + "\n")
    # The summary alone, for the README.
    with open(os.path.join(work, "summary.md"), "w", encoding="utf-8") as f:
        f.write(s.markdown() + "\n")


if __name__ == "__main__":
    main()
