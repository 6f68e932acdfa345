# PyTorch reference timing for bench/dit.ts: one ACE-Step DiT forward (spec section 10) written
# plainly in torch at the given shapes with random weights, weights in bf16 (default) and the
# layer math done in the same dtype torch would use for such a checkpoint on CPU. Weights are
# shared across layers exactly as in bench/dit.ts. Prints one JSON line per audio length with wall
# and process CPU seconds (CPU time stays comparable when other processes load the machine).
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

from torch_layers import attend, rms, rope_tables, rot


def main():
    args = dict(a.split('=') for a in sys.argv[1:])
    frames = [int(x) for x in args.get('frames', '750,6000').split(',')]
    layers = int(args.get('layers', 24))
    hidden = int(args.get('hidden', 2048))
    heads = int(args.get('heads', 16))
    kv_heads = int(args.get('kv_heads', 8))
    head_dim = int(args.get('head_dim', 128))
    inter = int(args.get('mlp', 6144))
    enc_len = int(args.get('enc', 256))
    window = int(args.get('window', 128))
    threads = int(args.get('threads', 2))
    dtype = {'bf16': torch.bfloat16, 'f32': torch.float32}[args.get('dtype', 'bf16')]
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    def w(o, i):
        return (torch.randn(o, i) / math.sqrt(i)).to(dtype)

    W = dict(
        q=w(heads * head_dim, hidden), k=w(kv_heads * head_dim, hidden), v=w(kv_heads * head_dim, hidden), o=w(hidden, heads * head_dim),
        cq=w(heads * head_dim, hidden), ck=w(kv_heads * head_dim, hidden), cv=w(kv_heads * head_dim, hidden), co=w(hidden, heads * head_dim),
        gate=w(inter, hidden), up=w(inter, hidden), down=w(hidden, inter),
        norm=torch.ones(hidden, dtype=dtype), hn=torch.ones(head_dim, dtype=dtype),
        table=(torch.randn(1, 6, hidden) * 0.1).to(dtype),
        proj_in=w(hidden, 192 * 2), proj_out=w(128, hidden),
    )

    b = 1
    with torch.no_grad():
        # Cross K/V depend only on the condition: computed once per sequence, outside the timing
        # (bench/dit.ts does the same with prepareCondition). Shared weights -> one set for all layers.
        enc = torch.randn(b, enc_len, hidden).to(dtype)
        ck = rms(F.linear(enc, W['ck']).view(b, enc_len, kv_heads, head_dim), W['hn']).transpose(1, 2)
        cv = F.linear(enc, W['cv']).view(b, enc_len, kv_heads, head_dim).transpose(1, 2)

    @torch.no_grad()
    def forward(t_frames):
        s = t_frames // 2
        x = torch.randn(b, s, 384).to(dtype)
        tproj = (torch.randn(b, 6, hidden) * 0.1).to(dtype)
        cos, sin = rope_tables(s, head_dim, 1e6, dtype)
        i = torch.arange(s)
        slide = torch.where((i[:, None] - i[None]).abs() <= window, 0.0, torch.finfo(torch.float32).min).to(dtype)
        h = F.linear(x, W['proj_in'])
        for layer in range(layers):
            mod = (W['table'] + tproj).chunk(6, 1)
            n = rms(h, W['norm']) * (1 + mod[1]) + mod[0]
            q = rot(rms(F.linear(n, W['q']).view(b, s, heads, head_dim), W['hn']).transpose(1, 2), cos, sin)
            k = rot(rms(F.linear(n, W['k']).view(b, s, kv_heads, head_dim), W['hn']).transpose(1, 2), cos, sin)
            v = F.linear(n, W['v']).view(b, s, kv_heads, head_dim).transpose(1, 2)
            a = attend(q, k, v, slide if layer % 2 == 0 else None).transpose(1, 2).reshape(b, s, -1)
            h = h + F.linear(a, W['o']) * mod[2]
            n = rms(h, W['norm'])
            q = rms(F.linear(n, W['cq']).view(b, s, heads, head_dim), W['hn']).transpose(1, 2)
            a = attend(q, ck, cv, None).transpose(1, 2).reshape(b, s, -1)
            h = h + F.linear(a, W['co'])
            n = rms(h, W['norm']) * (1 + mod[4]) + mod[3]
            h = h + F.linear(F.silu(F.linear(n, W['gate'])) * F.linear(n, W['up']), W['down']) * mod[5]
        return F.linear(rms(h, W['norm']), W['proj_out'])

    for f in frames:
        forward(min(f, 64))  # warm-up (oneDNN primitive creation)
        t0 = time.perf_counter()
        c0 = time.process_time()
        forward(f)
        dt = time.perf_counter() - t0
        cpu = time.process_time() - c0
        print(json.dumps({'frames': f, 'seconds': dt, 'cpu_seconds': cpu, 'dtype': args.get('dtype', 'bf16'), 'threads': threads, 'torch': torch.__version__}), flush=True)


main()
