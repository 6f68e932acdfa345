# PyTorch reference timing for bench/encoders.ts: the text and condition encoding of one song
# (spec sections 4.3, 5 and 7) written plainly in torch with random weights at the released sizes:
# the Qwen3-Embedding-0.6B text encoder (28 causal layers) over the caption ids, the lyric encoder
# (8 bidirectional layers, even ones sliding) over the lyric embeddings, and the timbre encoder
# (4 layers) over 750 reference frames, every row as upstream runs it. Each layer has its own
# weights (the weight traffic matters at these short lengths). Prints one JSON line with wall and
# process CPU seconds per part and in total (best of `reps` runs after a warm-up).
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

from torch_layers import attend, rms, rope_tables, rot


def stack(n_layers, hidden, heads, kv_heads, head_dim, inter, dtype):
    def w(o, i):
        return (torch.randn(o, i) / math.sqrt(i)).to(dtype)

    return [
        dict(
            q=w(heads * head_dim, hidden), k=w(kv_heads * head_dim, hidden), v=w(kv_heads * head_dim, hidden),
            o=w(hidden, heads * head_dim), gate=w(inter, hidden), up=w(inter, hidden), down=w(hidden, inter),
            n1=torch.ones(hidden, dtype=dtype), n2=torch.ones(hidden, dtype=dtype), hn=torch.ones(head_dim, dtype=dtype),
        )
        for _ in range(n_layers)
    ]


def run_stack(layers, h, heads, kv_heads, head_dim, masks):
    b, s, _ = h.shape
    cos, sin = rope_tables(s, head_dim, 1e6, h.dtype)
    for i, W in enumerate(layers):
        n = rms(h, W['n1'])
        q = rot(rms(F.linear(n, W['q']).view(b, s, heads, head_dim), W['hn']).transpose(1, 2), cos, sin)
        k = rot(rms(F.linear(n, W['k']).view(b, s, kv_heads, head_dim), W['hn']).transpose(1, 2), cos, sin)
        v = F.linear(n, W['v']).view(b, s, kv_heads, head_dim).transpose(1, 2)
        a = attend(q, k, v, masks(i)).transpose(1, 2).reshape(b, s, -1)
        h = h + F.linear(a, W['o'])
        n = rms(h, W['n2'])
        h = h + F.linear(F.silu(F.linear(n, W['gate'])) * F.linear(n, W['up']), W['down'])
    return h


def main():
    args = dict(a.split('=') for a in sys.argv[1:])
    caption = int(args.get('caption', 80))
    lyrics = int(args.get('lyrics', 66))
    frames = int(args.get('frames', 750))
    threads = int(args.get('threads', 2))
    reps = int(args.get('reps', 3))
    dtype = {'bf16': torch.bfloat16, 'f32': torch.float32}[args.get('dtype', 'bf16')]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    text_layers = stack(28, 1024, 16, 8, 128, 3072, dtype)
    lyric_layers = stack(8, 2048, 16, 8, 128, 6144, dtype)
    timbre_layers = stack(4, 2048, 16, 8, 128, 6144, dtype)
    emb_table = (torch.randn(151669, 1024) * 0.02).to(dtype)
    text_proj = (torch.randn(2048, 1024) / 32).to(dtype)
    lyric_embed = (torch.randn(2048, 1024) / 32).to(dtype)
    timbre_embed = (torch.randn(2048, 64) / 8).to(dtype)
    fmin = torch.finfo(torch.float32).min

    def window_mask(s):
        i = torch.arange(s)
        return torch.where((i[:, None] - i[None]).abs() <= 128, 0.0, fmin).to(dtype)

    @torch.no_grad()
    def encode():
        times = {}
        t0, c0 = time.perf_counter(), time.process_time()
        ids = torch.randint(0, 151669, (1, caption))
        causal = torch.triu(torch.full((caption, caption), fmin), 1).to(dtype)
        text = run_stack(text_layers, F.embedding(ids, emb_table), 16, 8, 128, lambda i: causal)
        text = F.linear(text, text_proj)
        times['text'] = (time.perf_counter() - t0, time.process_time() - c0)
        t1, c1 = time.perf_counter(), time.process_time()
        lyr = F.linear(F.embedding(torch.randint(0, 151669, (1, lyrics)), emb_table), lyric_embed)
        lm = window_mask(lyrics)
        run_stack(lyric_layers, lyr, 16, 8, 128, lambda i: lm if i % 2 == 0 else None)
        times['lyric'] = (time.perf_counter() - t1, time.process_time() - c1)
        t2, c2 = time.perf_counter(), time.process_time()
        ref = F.linear(torch.randn(1, frames, 64).to(dtype), timbre_embed)
        tm = window_mask(frames)
        run_stack(timbre_layers, ref, 16, 8, 128, lambda i: tm if i % 2 == 0 else None)[:, 0]
        times['timbre'] = (time.perf_counter() - t2, time.process_time() - c2)
        times['total'] = (time.perf_counter() - t0, time.process_time() - c0)
        return times

    encode()  # warm-up (oneDNN primitive creation)
    best = None
    for _ in range(reps):
        t = encode()
        if best is None or t['total'][0] < best['total'][0]:
            best = t
    out = {k: {'seconds': v[0], 'cpu_seconds': v[1]} for k, v in best.items()}
    out.update(dtype=args.get('dtype', 'bf16'), threads=threads, torch=torch.__version__)
    print(json.dumps(out), flush=True)


main()
