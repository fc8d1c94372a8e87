#!/usr/bin/env python3
"""tokengrid against llama.cpp on the same GGUF files: logits, greedy ids, KL divergence.

Run through scripts/compare_llamacpp.sh, which builds the two helper programs of this folder
against an existing llama.cpp build and passes their paths here. Not part of CI.

  logits     per architecture: random-weight files in real shapes (fewer layers), F32 and F16;
             the logits at every prompt position and 64 greedy ids from both programs.
  quantized  the F16 files through llama.cpp's llama-quantize to Q8_0, Q4_K_M and Q5_K_M (or the
             --kinds given); 5 prompts:
             greedy agreement between the programs, and each program's mean KL divergence
             from its own F16 distribution over the prompt positions.
"""
import argparse
import json
import os
import random
import subprocess
import sys

# (architecture, synthetic shape, layers kept): real shapes, shallower; the tiny shapes add
# sliding windows shorter than the prompt and the greedy run.
SHAPES = [
    ("llama", "llama-3.2-1b", 2), ("qwen2", "qwen2.5-0.5b", 2), ("qwen3", "qwen3-0.6b", 2),
    ("phi3", "phi-3-mini", 2), ("gemma2", "gemma-2-2b", 2), ("gemma3", "gemma-3-1b", 6),
    ("llama", "tiny-llama3", 0), ("qwen2", "tiny-qwen2", 0), ("qwen3", "tiny-qwen3", 0),
    ("phi3", "tiny-phi3", 0), ("gemma2", "tiny-gemma2", 0), ("gemma3", "tiny-gemma3", 0),
]
# The quantized comparison: the real shapes above, and Llama 3.2 1B whole (the benchmark's file).
QUANTIZED_SHAPES = [s for s in SHAPES if s[2]] + [("llama", "llama-3.2-1b", 0)]
GREEDY = 64


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


class Tools:
    def __init__(self, a):
        self.tokengrid, self.eval, self.stats = a.tokengrid, a.llamacpp_eval, a.logit_stats
        self.quantize, self.work, self.threads = a.llama_quantize, a.work, str(a.threads)

    def path(self, name):
        return os.path.join(self.work, name)

    def synth(self, shape, layers, typ):
        out = self.path(f"{shape}{'-l%d' % layers if layers else ''}-{typ}.gguf")
        if not os.path.exists(out):
            cmd = [self.tokengrid, "model", "synth", "--shape", shape, "--type", typ, "--seed", "7", "--logits", "peaked", "-o", out]
            run(cmd + (["--layers", str(layers)] if layers else []))
        return out

    def llama_quantize(self, f16, kind):
        out = f16.replace("-f16.gguf", f"-{kind.lower()}.gguf")
        if not os.path.exists(out):
            run([self.quantize, f16, out, kind, self.threads])
        return out

    def tokengrid_eval(self, model, ids, logits):
        return json.loads(run([self.tokengrid, "model", "eval", "-m", model, "--prompt-ids", ",".join(map(str, ids)),
                               "--greedy", str(GREEDY), "--all-positions", "--logits", logits, "-t", self.threads]))

    def refusal(self, model):
        """tokengrid's message when it cannot compute with a file's tensor types, else None."""
        r = subprocess.run([self.tokengrid, "model", "eval", "-m", model, "--prompt-ids", "3"],
                           capture_output=True, text=True)
        return r.stderr.strip() if r.returncode != 0 else None

    def llamacpp_eval(self, model, ids, logits):
        return json.loads(run([self.eval, model, ",".join(map(str, ids)), str(GREEDY), logits, "1", self.threads]))

    def compare(self, vocab, test, ref):
        return json.loads(run([self.stats, str(vocab), test, ref]))

    def both(self, model, ids, tag):
        """Both programs on one file and prompt: (tokengrid's report, llama.cpp's, their logit files)."""
        tg_bin, lc_bin = self.path(f"{tag}.tokengrid.bin"), self.path(f"{tag}.llamacpp.bin")
        return self.tokengrid_eval(model, ids, tg_bin), self.llamacpp_eval(model, ids, lc_bin), tg_bin, lc_bin


def prompt(vocab, length, seed):
    """Token ids past the special and byte tokens of the generated vocabularies."""
    rng = random.Random(seed)
    return [rng.randrange(259, vocab) for _ in range(length)]


def common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def logits_table(tools, shapes):
    rows = []
    for arch, shape, layers in shapes:
        for typ in ("f32", "f16"):
            model = tools.synth(shape, layers, typ)
            tg, lc, tg_bin, lc_bin = tools.both(model, prompt_for(tools, model, 48, 1), f"{shape}-{typ}")
            s = tools.compare(tg["vocab_size"], tg_bin, lc_bin)
            rows.append({"arch": arch, "shape": shape, "layers": layers or "all", "type": typ, **s,
                         "greedy_equal": common_prefix(tg["greedy_ids"], lc["greedy_ids"])})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def prompt_for(tools, model, length, seed):
    vocab = tools.tokengrid_eval(model, [3], os.devnull)["vocab_size"]
    return prompt(vocab, length, seed)


def quantized_table(tools, shapes, prompts, kinds):
    rows = []
    for arch, shape, layers in shapes:
        f16 = tools.synth(shape, layers, "f16")
        ids = [prompt_for(tools, f16, 32, 100 + p) for p in range(prompts)]
        ref = [tools.both(f16, ids[p], f"{shape}-f16-p{p}") for p in range(prompts)]
        for kind in kinds:
            q = tools.llama_quantize(f16, kind)
            row = {"arch": arch, "shape": shape, "layers": layers or "all", "type": kind,
                   "agree": [], "tg_vs_own_f16": [], "lc_vs_own_f16": [], "kl_tokengrid": 0.0, "kl_llamacpp": 0.0,
                   "margin_median": [], "diff_rms_median": [], "close_rows": []}
            refused = tools.refusal(q)
            if refused:
                rows.append({**row, "tokengrid_refused": refused})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
                continue
            for p in range(prompts):
                tg, lc, tg_bin, lc_bin = tools.both(q, ids[p], f"{shape}-{kind}-p{p}")
                tg16, lc16, tg16_bin, lc16_bin = ref[p]
                row["agree"].append(common_prefix(tg["greedy_ids"], lc["greedy_ids"]))
                row["tg_vs_own_f16"].append(common_prefix(tg["greedy_ids"], tg16["greedy_ids"]))
                row["lc_vs_own_f16"].append(common_prefix(lc["greedy_ids"], lc16["greedy_ids"]))
                own = tools.compare(tg["vocab_size"], tg_bin, tg16_bin)
                row["kl_tokengrid"] += own["kl_mean"] / prompts
                for key in ("margin_median", "diff_rms_median", "close_rows"):
                    row[key].append(round(own[key], 4))
                row["kl_llamacpp"] += tools.compare(lc["vocab_size"], lc_bin, lc16_bin)["kl_mean"] / prompts
            row["agree_mean"] = sum(row["agree"]) / prompts
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=["logits", "quantized"])
    p.add_argument("--tokengrid", required=True)
    p.add_argument("--llamacpp-eval", required=True)
    p.add_argument("--logit-stats", required=True)
    p.add_argument("--llama-quantize", required=True)
    p.add_argument("--work", required=True, help="folder for the model files and logits")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--shapes", default="", help="NAME or NAME:LAYERS as in SHAPES (0: whole), comma-separated; default all")
    p.add_argument("--prompts", type=int, default=5)
    p.add_argument("--kinds", default="Q8_0,Q4_K_M,Q5_K_M", help="quantized: comma-separated llama-quantize types")
    a = p.parse_args()
    tools = Tools(a)
    listed = SHAPES if a.part == "logits" else QUANTIZED_SHAPES
    shapes = [s for s in listed if not a.shapes or f"{s[1]}:{s[2]}" in a.shapes.split(",") or s[1] in a.shapes.split(",")]
    rows = logits_table(tools, shapes) if a.part == "logits" else quantized_table(tools, shapes, a.prompts, a.kinds.split(","))
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
