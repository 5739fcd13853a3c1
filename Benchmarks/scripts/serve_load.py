"""Load against `triage serve` on loopback: C concurrent keep-alive clients for D seconds with suite
questions, M malformed requests mixed in, and SIGTERM sent to the server near the end.

Usage: serve_load.py PORT SERVER_PID REQUESTS.jsonl OUT.json [--clients 64] [--seconds 60] [--malformed 1000]
       [--term-at 55]
Only 127.0.0.1 is ever contacted. Standard library only (a raw asyncio HTTP/1.1 client, so that the
client spends as little of the 2 cores as possible).
"""
import asyncio, json, os, random, signal, sys, time

HOST = "127.0.0.1"
args = sys.argv[1:]
PORT, SERVER_PID, REQS, OUT = int(args[0]), int(args[1]), args[2], args[3]
def opt(name, default):
    return type(default)(args[args.index(name) + 1]) if name in args else default
CLIENTS, SECONDS, MALFORMED, TERM_AT = opt("--clients", 64), opt("--seconds", 60.0), opt("--malformed", 1000), opt("--term-at", -1.0)

questions = [json.loads(l)["input"] for l in open(REQS) if l.strip()]

def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"): return int(line.split()[1])
    except OSError: return None

def request_bytes(path, body, extra=b""):
    return (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (path.encode(), len(body), extra)) + body

async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        if ":" in l:
            k, v = l.split(":", 1); headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    body = await reader.readexactly(n) if n else b""
    return status, headers, body

stats = {"ok": 0, "abstained_422": 0, "shed_503": 0, "other_status": {}, "errors_in_flight": 0,
         "refused_after_term": 0, "connect_errors_before_term": 0, "latencies_ms": [], "answered_after_term": 0}
malformed_stats = {"sent": 0, "correct": 0, "wrong": [], "by_kind": {}}
term_sent_at = None
start = None
stop_at = None

async def client(i):
    rnd = random.Random(i)
    reader = writer = None
    while time.monotonic() < stop_at:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(HOST, PORT)
            except OSError:
                if term_sent_at is not None: stats["refused_after_term"] += 1; return
                stats["connect_errors_before_term"] += 1; await asyncio.sleep(0.05); continue
        q = rnd.choice(questions)
        body = json.dumps({"model": "triage", "messages": [{"role": "user", "content": q}]}).encode()
        t0 = time.monotonic()
        sent_before_term = term_sent_at is None
        try:
            writer.write(request_bytes("/v1/chat/completions", body)); await writer.drain()
            status, headers, rbody = await read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ConnectionError) as e:
            # A connection closed after its last response (shutdown quiescing) is not a lost request only
            # if nothing was pending; here a request was pending, so count it.
            writer.close(); writer = None
            if term_sent_at is not None and isinstance(e, asyncio.IncompleteReadError) and not e.partial:
                stats["refused_after_term"] += 1  # closed by the draining server before it read the request
                return
            if term_sent_at is None:
                stats["errors_in_flight"] += 1
                if len(stats.setdefault("error_samples", [])) < 5: stats["error_samples"].append(repr(e))
            elif sent_before_term:
                stats["errors_in_flight"] += 1  # a request sent before SIGTERM that got no answer: lost
                if len(stats.setdefault("error_samples", [])) < 5: stats["error_samples"].append("after TERM: " + repr(e))
            else:
                stats["refused_after_term"] += 1  # sent after SIGTERM on a connection the server was closing
                return
            continue
        ms = (time.monotonic() - t0) * 1000
        if term_sent_at is not None: stats["answered_after_term"] += 1
        if status == 200:
            stats["ok"] += 1; stats["latencies_ms"].append(ms)
        elif status == 422:
            stats["abstained_422"] += 1; stats["latencies_ms"].append(ms)
        elif status == 503:
            stats["shed_503"] += 1
        else:
            stats["other_status"][status] = stats["other_status"].get(status, 0) + 1
        if headers.get("connection", "").lower() == "close":
            writer.close(); writer = None

GOOD = json.dumps({"model": "triage", "messages": [{"role": "user", "content": "What is the units digit of 86657956?"}]}).encode()
KINDS = [
    ("bad_json", lambda: request_bytes("/v1/chat/completions", b'{"model": "triage", "messages": [{"role": '), 400),
    ("wrong_types", lambda: request_bytes("/v1/chat/completions", b'{"model": 7, "messages": "hi", "stream": "yes"}'), 400),
    ("missing_field", lambda: request_bytes("/v1/completions", b'{"model": "triage"}'), 400),
    ("not_an_object", lambda: request_bytes("/v1/completions", b'[1,2,3]'), 400),
    ("huge_body", lambda: request_bytes("/v1/completions", b'{"model":"triage","prompt":"' + b"a" * (1 << 20) + b'"}'), 413),
    ("truncated_body", None, 400),
    ("slow_sender", None, 200),
    ("garbage_http", lambda: b"THIS IS NOT HTTP\r\n\r\n", 400),
]

async def malformed_one(kind, make, expected):
    malformed_stats["sent"] += 1
    k = malformed_stats["by_kind"].setdefault(kind, {"sent": 0, "correct": 0})
    k["sent"] += 1
    try:
        reader, writer = await asyncio.open_connection(HOST, PORT)
    except OSError:
        if term_sent_at is not None: malformed_stats["sent"] -= 1; k["sent"] -= 1; return
        raise
    try:
        if kind == "truncated_body":
            full = request_bytes("/v1/chat/completions", GOOD)
            writer.write(full[:len(full) - 20]); await writer.drain()
            writer.write_eof()
        elif kind == "slow_sender":
            full = request_bytes("/v1/chat/completions", GOOD)
            for j in range(0, len(full), 16):
                writer.write(full[j:j + 16]); await writer.drain(); await asyncio.sleep(0.1)
        else:
            writer.write(make()); await writer.drain()
        status, _, body = await asyncio.wait_for(read_response(reader), 30)
        ok = status == expected
        if ok and expected >= 400 and kind != "garbage_http":
            ok = "error" in json.loads(body)
        if ok:
            malformed_stats["correct"] += 1; k["correct"] += 1
        elif len(malformed_stats["wrong"]) < 20:
            malformed_stats["wrong"].append((kind, status, body[:200].decode("utf-8", "replace")))
    except Exception as e:
        if term_sent_at is not None: malformed_stats["sent"] -= 1; k["sent"] -= 1; return
        if len(malformed_stats["wrong"]) < 20: malformed_stats["wrong"].append((kind, "exception", repr(e)))
    finally:
        writer.close()

async def malformed_feeder():
    # Spread MALFORMED requests over the first 85% of the run, 4 at a time.
    rnd = random.Random(7)
    plan = [KINDS[j % len(KINDS)] for j in range(MALFORMED)]
    rnd.shuffle(plan)
    span = SECONDS * 0.85
    sem = asyncio.Semaphore(4)
    async def one(j, kind):
        await asyncio.sleep(start + span * j / max(1, MALFORMED) - time.monotonic())
        if term_sent_at is not None: return
        async with sem: await malformed_one(*kind)
    await asyncio.gather(*(one(j, k) for j, k in enumerate(plan)))

async def terminator():
    global term_sent_at
    if TERM_AT < 0: return
    await asyncio.sleep(start + TERM_AT - time.monotonic())
    rss["before_term_kib"] = rss_kib(SERVER_PID)
    term_sent_at = time.monotonic()
    rss["term_epoch"] = time.time()
    os.kill(SERVER_PID, signal.SIGTERM)

rss = {}
async def sampler():
    while time.monotonic() < stop_at and term_sent_at is None:
        rss.setdefault("samples_kib", []).append(round(time.monotonic() - start, 1))
        rss["samples_kib"][-1] = (rss["samples_kib"][-1], rss_kib(SERVER_PID))
        await asyncio.sleep(5)

async def main():
    global start, stop_at
    rss["start_kib"] = rss_kib(SERVER_PID)
    start = time.monotonic(); stop_at = start + SECONDS
    await asyncio.gather(*(client(i) for i in range(CLIENTS)), malformed_feeder(), terminator(), sampler())
    elapsed = (term_sent_at or time.monotonic()) - start
    lat = sorted(stats["latencies_ms"])
    pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None
    answered = stats["ok"] + stats["abstained_422"]
    result = {"clients": CLIENTS, "seconds": round(elapsed, 2), "answered": answered, "ok_200": stats["ok"],
              "abstained_422": stats["abstained_422"], "shed_503": stats["shed_503"], "other_status": stats["other_status"],
              "errors_in_flight": stats["errors_in_flight"], "error_samples": stats.get("error_samples", []), "connect_errors_before_term": stats["connect_errors_before_term"],
              "refused_after_term": stats["refused_after_term"], "answered_after_term": stats["answered_after_term"],
              "requests_per_s": round(answered / elapsed, 1), "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99),
              "max_ms": round(lat[-1], 2) if lat else None,
              "malformed": {k: v for k, v in malformed_stats.items()}, "rss": rss}
    json.dump(result, open(OUT, "w"), indent=1)
    print(json.dumps({k: v for k, v in result.items() if k not in ("rss",)}, indent=1))
    print("rss:", json.dumps(rss))

asyncio.run(main())
