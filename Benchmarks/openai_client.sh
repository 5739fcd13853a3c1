#!/usr/bin/env bash
# The official `openai` Python client against `triage serve`, on loopback, with a fresh registry.
#
# Makes a virtual environment (.venv-openai) with `openai` from PyPI, starts `triage serve --port 0`
# (a free loopback port) with an empty TRIAGE_HOME (the shipped suite is imported from Experts/ on first
# use), and checks models.list, chat.completions.create with and without stream=True (same text),
# completions.create, an abstention (422 -> openai.UnprocessableEntityError) and an unknown model
# (NotFoundError), all with max_retries=0. Prints `N passed, F failed`; exits non-zero on any failure.
#
# Env: TRIAGE (the binary; default: .build-serve/release/triage, else .build/release/triage, else the debug ones).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TRIAGE="${TRIAGE:-}"
if [ -z "$TRIAGE" ]; then
  for t in .build-serve/release/triage .build/release/triage .build-serve/debug/triage .build/debug/triage; do
    if [ -x "$t" ]; then TRIAGE="$t"; break; fi
  done
fi
[ -x "$TRIAGE" ] || { echo "no triage binary: run swift build -c release (or set TRIAGE)" >&2; exit 1; }

PY="$ROOT/.venv-openai/bin/python"
if ! { [ -x "$PY" ] && "$PY" -c "import openai" 2>/dev/null; }; then
  echo "creating $ROOT/.venv-openai (openai from PyPI)" >&2
  python3 -m venv "$ROOT/.venv-openai"
  "$PY" -m pip install --quiet openai
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
TRIAGE_HOME="$WORK/home" "$TRIAGE" serve --host 127.0.0.1 --port 0 2> "$WORK/serve.log" &
SERVER_PID=$!
URL=""
for _ in $(seq 1 600); do
  URL="$(sed -n 's/^triage serve: listening on \(http:[^ ]*\).*/\1/p' "$WORK/serve.log" | head -1)"
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { echo "the server did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
case "$URL" in http://127.0.0.1:*) ;; *) echo "refusing a non-loopback URL: $URL" >&2; exit 1 ;; esac
echo "server: $URL ($TRIAGE)" >&2

status=0
"$PY" - "$URL" <<'PYEOF' || status=$?
import sys, openai
url = sys.argv[1]
client = openai.OpenAI(base_url=url, api_key="any", max_retries=0, timeout=30)
passed, failed = 0, 0
def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   {name}")
    except Exception as e:
        failed += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}")

Q = "What is the units digit of 86657956?"

def models():
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "triage" and "place-value" in ids and len(ids) == 10, ids

plain = {}
def chat():
    r = client.chat.completions.create(model="triage", messages=[{"role": "user", "content": Q}])
    assert r.object == "chat.completion", r
    assert r.model == "place-value", r.model
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == len(Q.encode()), r.usage
    plain["text"] = r.choices[0].message.content
    assert plain["text"] == "6", plain

def chat_stream():
    stream = client.chat.completions.create(model="triage", messages=[{"role": "user", "content": Q}], stream=True,
                                            stream_options={"include_usage": True})
    parts, usage, finish = [], None, None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage: usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content: parts.append(c.delta.content)
            if c.finish_reason: finish = c.finish_reason
    text = "".join(parts)
    assert text == plain.get("text"), (text, plain)
    assert finish == "stop" and usage is not None and usage.completion_tokens == len(text.encode()), (finish, usage)

def completion():
    r = client.completions.create(model="triage", prompt="Sort 3, 1, 2 in ascending order.")
    assert r.object == "text_completion" and r.model == "sort", r
    assert r.choices[0].text, r

def completion_stream():
    texts = [c.choices[0].text for c in client.completions.create(model="triage", prompt=Q, stream=True) if c.choices]
    assert "".join(texts) == plain.get("text"), texts

def direct_expert():
    r = client.chat.completions.create(model="place-value", messages=[{"role": "user", "content": Q}], max_tokens=1)
    assert r.model == "place-value" and r.choices[0].message.content == "6", r

def abstention():
    try:
        client.chat.completions.create(model="triage", messages=[{"role": "user", "content": "Write me a poem about the sea"}])
    except openai.UnprocessableEntityError as e:
        assert e.status_code == 422
        body = e.body if isinstance(e.body, dict) else {}
        assert body.get("code") == "no_expert_fits", e.body
        assert len(body.get("candidates", [])) > 0, e.body
        return
    raise AssertionError("no 422")

def unknown_model():
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": Q}])
    except openai.NotFoundError as e:
        assert e.status_code == 404
        return
    raise AssertionError("no 404")

def bad_request():
    try:
        client.chat.completions.create(model="triage", messages=[{"role": "user", "content": Q}], n=2)
    except openai.BadRequestError as e:
        assert e.status_code == 400
        return
    raise AssertionError("no 400")

for name, fn in [("models.list", models), ("chat.completions.create", chat), ("chat.completions.create stream=True (same text)", chat_stream),
                 ("completions.create", completion), ("completions.create stream=True", completion_stream),
                 ("chat.completions.create model=<expert>, max_tokens", direct_expert),
                 ("abstention -> UnprocessableEntityError (422 no_expert_fits)", abstention),
                 ("unknown model -> NotFoundError", unknown_model), ("n=2 -> BadRequestError", bad_request)]:
    check(name, fn)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PYEOF
kill -TERM "$SERVER_PID"
if wait "$SERVER_PID"; then echo "server exited 0 after SIGTERM" >&2; else echo "server exited $? after SIGTERM" >&2; status=1; fi
SERVER_PID=""
exit $status
