"""Prints the hub benchmark's table (medians over rounds), the ratios and the target verdicts
from a hub_bench.sh jsonl file."""

import json
import statistics
import sys

TARGET_IDLE_KIB = 30.0
#: The studio window's hub may cost at most this much more than `serve` (issue 9).
STUDIO_VS_SERVE = 1.5
#: Older result files named the targets this way.
LEGACY_NAMES = {"baseline": "node", "ours": "serve"}
ORDER = ("node", "serve", "serve-asyncio", "studio")


def tag(server: str, level: str, round_: str = "1") -> int:
    """stdin: run_hub_bench.sh output; stdout: its JSON lines tagged with server, level, round."""
    lines = [ln for ln in sys.stdin.read().splitlines() if ln.strip()]
    rows = []
    for ln in lines:
        try:
            rows.append(json.loads(ln))
        except ValueError:
            rows.append({"error": f"not JSON: {ln[:200]}"})
    for row in rows or [{"error": "no output from run_hub_bench.sh"}]:
        print(json.dumps({"server": server, "level": level, "round": int(round_), **row}))
    return 0


def fmt(v, spec="", none="-"):
    return none if v is None else format(v, spec)


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def derived(r: dict) -> dict:
    """Adds delivered % and server CPU per delivery (µs) to one run's figures."""
    out = dict(r)
    exp, dl, cpu = r.get("expected_deliveries"), r.get("delivered"), r.get("server_cpu_s")
    out["delivered_pct"] = 100.0 * dl / exp if exp and dl is not None else None
    out["cpu_us_per_delivery"] = 1e6 * cpu / dl if dl and cpu is not None else None
    return out


def median_of(runs: list[dict], key: str):
    values = [r[key] for r in runs if r.get(key) is not None and not r.get("error")]
    return statistics.median(values) if values else None


COLUMNS = (
    # header, width, key, format
    ("level_N:R:K", 13, None, ""),
    ("target", 13, None, ""),
    ("n", 2, None, ""),
    ("conn", 5, "connected", ".0f"),
    ("reg_s", 5, "register_s", ".2f"),
    ("deliv%", 7, "delivered_pct", ".2f"),
    ("p50ms", 7, "lat_p50_ms", ".1f"),
    ("p99ms", 7, "lat_p99_ms", ".1f"),
    ("maxms", 7, "lat_max_ms", ".1f"),
    ("deliv/s", 8, "msgs_per_s_delivered", ".0f"),
    ("cpu_s", 6, "server_cpu_s", ".2f"),
    ("us/dlv", 6, "cpu_us_per_delivery", ".1f"),
    ("rss_mb", 6, "server_rss_mb", ".1f"),
)


def main(path: str) -> int:
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(ln) for ln in fh if ln.strip()]
    runs: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if "level" in r:
            srv = LEGACY_NAMES.get(r["server"], r["server"])
            runs.setdefault((r["level"], srv), []).append(derived(r))
    idle = {r["server"]: r for r in rows if r.get("kind") == "idle_memory"}
    levels = list(dict.fromkeys(r["level"] for r in rows if "level" in r))
    servers = [s for s in ORDER if any(k[1] == s for k in runs)]
    servers += sorted({k[1] for k in runs} - set(servers))

    widths = [c[1] for c in COLUMNS]
    widths[1] = max(widths[1], *map(len, servers))

    def line(cells):
        return "  ".join(
            str(c).rjust(w) if i > 1 else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(f"Hub fan-out benchmark: {path}")
    print("Medians over the rounds (n = rounds); ratios are of medians from this one run.")
    print(line([c[0] for c in COLUMNS]))
    print("-" * (sum(widths) + 2 * len(widths)))
    verdicts, notes = [], []
    med: dict[tuple[str, str], dict] = {}
    for lv in levels:
        for srv in servers:
            rs = runs.get((lv, srv), [])
            if not rs:
                continue
            m = {key: median_of(rs, key) for _, _, key, _ in COLUMNS if key}
            med[(lv, srv)] = m
            cells = [lv, srv, len(rs)]
            cells += [fmt(m[key], spec) for _, _, key, spec in COLUMNS[3:]]
            print(line(cells))
            for r in rs:
                odd = {k: r[k] for k in ("error", "errors", "closed_during_run") if r.get(k)}
                if not r.get("error") and r.get("connected") != r.get("clients"):
                    odd["connected"] = f"{r.get('connected')}/{r.get('clients')}"
                if odd:
                    notes.append(f"  {lv} {srv} round {r.get('round', 1)}: {json.dumps(odd)}")
        for srv, ref in [(s, "node") for s in servers if s != "node"] + [("studio", "serve")]:
            o, b = med.get((lv, srv)), med.get((lv, ref))
            if not o or not b:
                continue
            rd = ratio(o["msgs_per_s_delivered"], b["msgs_per_s_delivered"])
            rp = ratio(o["lat_p99_ms"], b["lat_p99_ms"])
            rc = ratio(o["server_cpu_s"], b["server_cpu_s"])
            ru = ratio(o["cpu_us_per_delivery"], b["cpu_us_per_delivery"])
            per_round = []
            by_round = {r.get("round", 1): r for r in runs[(lv, ref)]}
            for r in runs[(lv, srv)]:
                br = by_round.get(r.get("round", 1))
                if br:
                    p = ratio(r.get("lat_p99_ms"), br.get("lat_p99_ms"))
                    u = ratio(r.get("cpu_us_per_delivery"), br.get("cpu_us_per_delivery"))
                    per_round.append(f"p99 x{fmt(p, '.2f')} cpu/dlv x{fmt(u, '.2f')}")
            print(
                f"{'':13}  {srv}/{ref}: deliv/s x{fmt(rd, '.2f')}  p99 x{fmt(rp, '.2f')}  "
                f"cpu x{fmt(rc, '.2f')}  cpu/delivery x{fmt(ru, '.2f')}"
                + (f"   rounds: {'; '.join(per_round)}" if len(per_round) > 1 else "")
            )
            if ref == "node" and srv == "serve":
                verdicts += serve_verdicts(lv, runs[(lv, srv)], runs[(lv, ref)], rd, rp, ru)
            elif (
                ref == "serve"
                and srv == "studio"
                and lv.split(":")[:2]
                in (
                    ["500", "50"],
                    ["2000", "50"],
                )
            ):
                verdicts.append(
                    (f"studio p99 <= {STUDIO_VS_SERVE}x serve at {lv}", ok_le(rp, STUDIO_VS_SERVE))
                )
                verdicts.append(
                    (f"studio CPU <= {STUDIO_VS_SERVE}x serve at {lv}", ok_le(rc, STUDIO_VS_SERVE))
                )
    if med and not any(lv.split(":")[:2] == ["2000", "50"] for lv in levels):
        print("(level 2000:50:* not run: the zero-loss target is not checked)")
    verdicts += idle_report(idle)
    if notes:
        print("\nOdd figures (errors, closed_during_run, not all connected):")
        print("\n".join(notes))
    print("\nTargets:")
    for name, ok in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in verdicts) else 1


def ok_le(r, limit: float) -> bool:
    return r is not None and r <= limit


def serve_verdicts(lv: str, ours: list[dict], node: list[dict], rd, rp, ru) -> list:
    """Ours (`serve`) against the Node baseline at one level, on the medians."""
    # When both delivered everything, deliveries/s is the offered load (N x R) and the
    # ratio is 1.00 up to when the last message happened to land: allow 1 % for that.
    both_complete = all(
        x.get("expected_deliveries") and x.get("delivered") == x.get("expected_deliveries")
        for x in ours + node
    )
    out = [
        (
            f"deliveries/s >= baseline at {lv}"
            + (" (both at the offered load: within 1 %)" if both_complete else ""),
            rd is not None and rd >= (0.99 if both_complete else 1.0),
        ),
        (f"p99 <= baseline at {lv}", ok_le(rp, 1.0)),
    ]
    n, rate = lv.split(":")[:2]
    if (n, rate) in (("500", "50"), ("2000", "50")):
        out.append((f"CPU per delivery <= baseline at {lv}", ok_le(ru, 1.0)))
    if (n, rate) == ("2000", "50"):
        lost = [r.get("loss_pct") for r in ours]
        ok = all(
            r.get("expected_deliveries") and r.get("delivered") == r.get("expected_deliveries")
            for r in ours
        )
        out.insert(0, (f"zero loss at 2000x50, every round (ours: {lost} %)", ok))
    return out


def idle_report(idle: dict) -> list:
    if not idle:
        return []
    print("\nIdle memory per registered connection (VmRSS delta / N):")
    for srv in ("baseline", "ours"):
        r = idle.get(srv, {})
        print(
            f"  {LEGACY_NAMES[srv]:6}  N={fmt(r.get('clients'))} "
            f"connected={fmt(r.get('connected'))}  "
            f"rss {fmt(r.get('rss_before_kib'))} -> {fmt(r.get('rss_after_kib'))} KiB  "
            f"= {fmt(r.get('kib_per_conn'), '.1f')} KiB/conn"
            + (f"  error: {r['error']}" if r.get("error") else "")
        )
    ours, node = idle.get("ours", {}), idle.get("baseline", {})
    ri = ratio(ours.get("kib_per_conn"), node.get("kib_per_conn"))
    print(f"  serve/node: x{fmt(ri, '.2f')}")
    k = ours.get("kib_per_conn")
    ok = k is not None and k <= TARGET_IDLE_KIB and not ours.get("error")
    return [(f"idle memory <= {TARGET_IDLE_KIB:.0f} KiB/conn (serve: {fmt(k, '.1f')})", ok)]


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--tag":
        sys.exit(tag(*sys.argv[2:]))
    if len(sys.argv) != 2:
        sys.exit("usage: compare.py RESULTS.jsonl | compare.py --tag SERVER LEVEL [ROUND] < raw")
    sys.exit(main(sys.argv[1]))
