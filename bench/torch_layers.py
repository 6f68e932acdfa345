# The transformer pieces the torch reference scripts share (bench/dit_torch.py,
# bench/encoders_torch.py): RMSNorm with an f32 reduction, NeoX-style RoPE tables and rotation,
# and eager GQA attention with an f32 softmax, as upstream computes them on the CPU.
import math

import torch


def rms(x, w, eps=1e-6):
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


def rope_tables(t, d, theta, dtype):
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    f = torch.arange(t, dtype=torch.float32)[:, None] * inv[None]
    e = torch.cat([f, f], -1)
    return e.cos().to(dtype), e.sin().to(dtype)


def rot(x, cos, sin):
    h = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin


def attend(q, k, v, mask):
    # q [B, Hq, T, D], k/v [B, Hkv, S, D]; eager attention with fp32 softmax like upstream.
    g = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(g, 1)
    v = v.repeat_interleave(g, 1)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s + mask
    p = torch.softmax(s.float(), -1).to(q.dtype)
    return p @ v
