#!/usr/bin/env python3
"""Tables from the output of `scripts/compare_llamacpp.sh ... bench` (one or more files).

Every run of each program, its median over the runs, and tokengrid's median over llama.cpp's
best median (the faster of flash attention off and on), per file and test.
"""
import json
import statistics
import sys


def collect(paths):
    runs = {}  # (file kind, test, program) -> [tokens/s, ...]
    kind = None
    for path in paths:
        for line in open(path):
            if line.startswith("# round"):
                kind = line.split()[4]
                continue
            if not line.startswith("{"):
                continue
            d = json.loads(line)
            if "build_commit" in d:
                test = f"pp{d['n_prompt']}" if d["n_prompt"] else f"tg{d['n_gen']}"
                runs.setdefault((kind, test, f"llama.cpp fa {d['flash_attn']:d}"), []).append(d["avg_ts"])
            else:
                runs.setdefault((kind, d["test"], "tokengrid"), []).append(d["tokens_per_s"])
    return runs


def main():
    runs = collect(sys.argv[1:])
    print("| file | test | tokengrid runs | llama.cpp fa 0 runs | llama.cpp fa 1 runs | tokengrid median | "
          "llama.cpp best median | ratio |")
    print("| --- | --- | --- | --- | --- | ---: | ---: | ---: |")
    for kind in ("q4_k_m", "q8_0", "f16"):
        for test in ("pp128", "tg64"):
            tg = runs.get((kind, test, "tokengrid"), [])
            fa = [runs.get((kind, test, f"llama.cpp fa {f}"), []) for f in (0, 1)]
            if not tg or not any(fa):
                continue
            best = max(statistics.median(r) for r in fa if r)
            mine = statistics.median(tg)
            cell = lambda r: ", ".join(f"{x:.1f}" for x in r)
            print(f"| {kind.upper()} | {test} | {cell(tg)} | {cell(fa[0])} | {cell(fa[1])} | {mine:.1f} | "
                  f"{best:.1f} | {mine / best:.2f}x |")


if __name__ == "__main__":
    main()
