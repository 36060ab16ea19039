"""Prints the baseline-vs-ours table and the target verdicts from a hub_bench.sh jsonl file."""

import json
import sys

TARGET_IDLE_KIB = 30.0


def tag(server: str, level: str) -> int:
    """stdin: run_hub_bench.sh output; stdout: its JSON lines tagged with server and level."""
    lines = [ln for ln in sys.stdin.read().splitlines() if ln.strip()]
    rows = []
    for ln in lines:
        try:
            rows.append(json.loads(ln))
        except ValueError:
            rows.append({"error": f"not JSON: {ln[:200]}"})
    for row in rows or [{"error": "no output from run_hub_bench.sh"}]:
        print(json.dumps({"server": server, "level": level, **row}))
    return 0


def fmt(v, spec="", none="-"):
    return none if v is None else format(v, spec)


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def main(path: str) -> int:
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(ln) for ln in fh if ln.strip()]
    runs = {(r["level"], r["server"]): r for r in rows if "level" in r}
    idle = {r["server"]: r for r in rows if r.get("kind") == "idle_memory"}
    levels = list(dict.fromkeys(r["level"] for r in rows if "level" in r))
    head = "level_N:R:K server conn reg_s delivered/expected loss% p50ms p99ms maxms deliv/s"
    head = (*head.split(), "cpu_s", "rss_mb")
    widths = (13, 8, 5, 5, 19, 6, 7, 7, 7, 8, 6, 6)

    def line(cells):
        return "  ".join(
            str(c).rjust(w) if i > 1 else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(f"Hub fan-out benchmark: {path}")
    print(line(head))
    print("-" * (sum(widths) + 2 * len(widths)))
    verdicts, notes = [], []
    for lv in levels:
        for srv in ("baseline", "ours"):
            r = runs.get((lv, srv), {})
            de = f"{fmt(r.get('delivered'))}/{fmt(r.get('expected_deliveries'))}"
            print(
                line(
                    (
                        lv,
                        srv,
                        fmt(r.get("connected")),
                        fmt(r.get("register_s")),
                        de,
                        fmt(r.get("loss_pct")),
                        fmt(r.get("lat_p50_ms"), ".1f"),
                        fmt(r.get("lat_p99_ms"), ".1f"),
                        fmt(r.get("lat_max_ms"), ".1f"),
                        fmt(r.get("msgs_per_s_delivered"), ".0f"),
                        fmt(r.get("server_cpu_s"), ".2f"),
                        fmt(r.get("server_rss_mb"), ".1f"),
                    )
                )
            )
            odd = {k: r[k] for k in ("error", "errors", "closed_during_run") if r.get(k)}
            if r and not r.get("error") and r.get("connected") != r.get("clients"):
                odd["connected"] = f"{r.get('connected')}/{r.get('clients')}"
            if odd:
                notes.append(f"  {lv} {srv}: {json.dumps(odd)}")
        b, o = runs.get((lv, "baseline"), {}), runs.get((lv, "ours"), {})
        rd = ratio(o.get("msgs_per_s_delivered"), b.get("msgs_per_s_delivered"))
        rp = ratio(o.get("lat_p99_ms"), b.get("lat_p99_ms"))
        rc = ratio(o.get("server_cpu_s"), b.get("server_cpu_s"))
        print(
            f"{'':13}  ours/baseline: deliv/s x{fmt(rd, '.2f')}  "
            f"p99 x{fmt(rp, '.2f')}  cpu x{fmt(rc, '.2f')}"
        )
        # When both delivered everything, deliveries/s is the offered load (N x R) and the
        # ratio is 1.00 up to when the last message happened to land: allow 1 % for that.
        both_complete = all(
            x.get("expected_deliveries") and x.get("delivered") == x.get("expected_deliveries")
            for x in (b, o)
        )
        floor = 0.99 if both_complete else 1.0
        verdicts.append(
            (
                f"deliveries/s >= baseline at {lv}"
                + (" (both at the offered load: within 1 %)" if both_complete else ""),
                rd is not None and rd >= floor,
            )
        )
        verdicts.append((f"p99 <= baseline at {lv}", rp is not None and rp <= 1.0))
        n, rate = lv.split(":")[:2]
        if (n, rate) == ("2000", "50"):
            ok = (
                o.get("loss_pct") == 0
                and o.get("expected_deliveries", 0) > 0
                and o.get("delivered") == o.get("expected_deliveries")
            )
            verdicts.insert(0, (f"zero loss at 2000x50 (ours: {fmt(o.get('loss_pct'))} %)", ok))
    if not any(v[0].startswith("zero loss") for v in verdicts):
        print("(level 2000:50:* not run: the zero-loss target is not checked)")
    if idle:
        print("\nIdle memory per registered connection (VmRSS delta / N):")
        for srv in ("baseline", "ours"):
            r = idle.get(srv, {})
            print(
                f"  {srv:8}  N={fmt(r.get('clients'))} connected={fmt(r.get('connected'))}  "
                f"rss {fmt(r.get('rss_before_kib'))} -> {fmt(r.get('rss_after_kib'))} KiB  "
                f"= {fmt(r.get('kib_per_conn'), '.1f')} KiB/conn"
                + (f"  error: {r['error']}" if r.get("error") else "")
            )
        ri = ratio(
            idle.get("ours", {}).get("kib_per_conn"), idle.get("baseline", {}).get("kib_per_conn")
        )
        print(f"  ours/baseline: x{fmt(ri, '.2f')}")
        k = idle.get("ours", {}).get("kib_per_conn")
        verdicts.append(
            (
                f"idle memory <= {TARGET_IDLE_KIB:.0f} KiB/conn (ours: {fmt(k, '.1f')})",
                k is not None and k <= TARGET_IDLE_KIB and not idle["ours"].get("error"),
            )
        )
    if notes:
        print("\nOdd figures (errors, closed_during_run, not all connected):")
        print("\n".join(notes))
    print("\nTargets:")
    for name, ok in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--tag":
        sys.exit(tag(sys.argv[2], sys.argv[3]))
    if len(sys.argv) != 2:
        sys.exit("usage: compare.py RESULTS.jsonl | compare.py --tag SERVER LEVEL < raw lines")
    sys.exit(main(sys.argv[1]))
