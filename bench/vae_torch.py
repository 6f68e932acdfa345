# PyTorch reference timings for bench/vae.ts. Reads one JSON request on stdin:
#   {"threads": N, "min_seconds": S, "layers": [{"op": "conv1d"|"conv_transpose1d"|"snake", "cin", "cout", "t",
#    "k", "stride", "padding", "dilation"}], "decode": {"frames": F, "config": {...}} | null}
# and prints one JSON object: {"layers": [seconds, ...], "decode": seconds | null}. Layers are
# timed as F.conv1d / F.conv_transpose1d / the Snake formula on random f32 data; "decode" runs the
# Oobleck decoder (diffusers AutoencoderOobleck layout, weight_norm already fused) written plainly
# in torch with random weights, once after a short warm-up.
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


def best_time(fn, min_seconds):
    fn()
    best, spent, rounds = math.inf, 0.0, 0
    while rounds < 3 or spent < min_seconds:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        rounds += 1
    return best


def snake(x, a, b):
    return x + (b + 1e-9).reciprocal() * torch.sin(a * x).pow(2)


def layer_fn(L):
    x = torch.randn(1, L['cin'], L['t'])
    if L['op'] == 'snake':
        a = torch.rand(1, L['cin'], 1) + 0.5
        b = torch.rand(1, L['cin'], 1) + 0.5
        return lambda: snake(x, a, b)
    if L['op'] == 'conv1d':
        w = torch.randn(L['cout'], L['cin'], L['k']) / math.sqrt(L['cin'] * L['k'])
        bias = torch.randn(L['cout'])
        return lambda: F.conv1d(x, w, bias, stride=L['stride'], padding=L['padding'], dilation=L['dilation'])
    w = torch.randn(L['cin'], L['cout'], L['k']) / math.sqrt(L['cin'] * 2)
    bias = torch.randn(L['cout'])
    return lambda: F.conv_transpose1d(x, w, bias, stride=L['stride'], padding=L['padding'], dilation=L['dilation'])


def decoder(cfg):
    mult = [1] + cfg['channel_multiples']
    c = cfg['decoder_channels']
    ups = list(reversed(cfg['downsampling_ratios']))
    n = len(mult)

    def conv(cout, cin, k):
        return torch.randn(cout, cin, k) / math.sqrt(cin * k), torch.randn(cout) * 0.1

    def sn(ch):
        return torch.rand(1, ch, 1) + 0.5, torch.rand(1, ch, 1) + 0.5

    conv1 = conv(c * mult[-1], cfg['decoder_input_channels'], 7)
    blocks = []
    for i, s in enumerate(ups):
        cin, cout = c * mult[n - i - 1], c * mult[n - i - 2]
        wt = torch.randn(cin, cout, 2 * s) / math.sqrt(cin * 2)
        res = [(d, sn(cout), conv(cout, cout, 7), sn(cout), conv(cout, cout, 1)) for d in (1, 3, 9)]
        blocks.append((s, sn(cin), (wt, torch.randn(cout) * 0.1), res))
    out_snake = sn(c)
    conv2 = torch.randn(cfg['audio_channels'], c, 7) / math.sqrt(c * 7)

    def run(z):
        x = F.conv1d(z, conv1[0], conv1[1], padding=3)
        for s, sk, (wt, bt), res in blocks:
            x = snake(x, *sk)
            x = F.conv_transpose1d(x, wt, bt, stride=s, padding=math.ceil(s / 2))
            for d, s1, c1, s2, c2 in res:
                y = F.conv1d(snake(x, *s1), c1[0], c1[1], padding=3 * d, dilation=d)
                y = F.conv1d(snake(y, *s2), c2[0], c2[1])
                x = x + y
        x = snake(x, *out_snake)
        return F.conv1d(x, conv2, None, padding=3)

    return run


def main():
    req = json.loads(sys.stdin.read())
    torch.set_num_threads(req['threads'])
    torch.manual_seed(0)
    out = {'layers': [], 'decode': None}
    with torch.inference_mode():
        for L in req['layers']:
            out['layers'].append(best_time(layer_fn(L), req['min_seconds']))
        d = req.get('decode')
        if d:
            run = decoder(d['config'])
            run(torch.randn(1, d['config']['decoder_input_channels'], 8))
            z = torch.randn(1, d['config']['decoder_input_channels'], d['frames'])
            t0 = time.perf_counter()
            run(z)
            out['decode'] = time.perf_counter() - t0
    print(json.dumps(out))


if __name__ == '__main__':
    main()
