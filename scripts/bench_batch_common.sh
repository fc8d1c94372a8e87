# Sourced by the batch benchmarks (bench_batch_ttft.sh, bench_batch_window.sh): what they share.

# A free loopback TCP port.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A field of a JSON document on stdin, by a Python expression on `d`.
field() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# Writes a batch input file: N short chat requests (custom_id r0..rN-1) of MAX_TOKENS output
# tokens each for MODEL, each prompt of its own, the same for the same arguments.
write_chat_batch() {  # PATH N MAX_TOKENS MODEL
  python3 - "$@" <<'PY'
import json, random, sys
path, n, max_tokens, model = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
words = "the of and to in is was he for it with as his on be at by had are but from or have an they which one".split()
rng = random.Random(7)
with open(path, "w") as f:
    for i in range(n):
        text = f"Item {i}: " + " ".join(rng.choice(words) for _ in range(24))
        body = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}]}
        f.write(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n")
PY
}
