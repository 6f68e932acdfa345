// The LM sampling loop on the tiny fixture LM, against an independent host-side reference that
// runs an uncached forward over the whole sequence each step and picks the token in plain JS
// (argmax, CFG combine, masks). Greedy ids must match exactly: the tiny LM's top-1/top-2 gaps
// (> 0.1 on the golden prompt) are far above the ~1e-5 difference between cached and uncached
// logits. Sampling is checked for reproducibility and for properties that can fail.
import { describe, expect, it, vi } from 'vitest';
import { Tensor, add, flush, memoryStats, ShapeError } from '../src/runtime/index.js';
import { settleMemory } from './support/memory.js';
import { KVCache, Qwen3Model } from '../src/models/qwen3.js';
import { generate, generateStream, type LogitsProcessor } from '../src/pipeline/lm/sampling-loop.js';
import { AbortedError } from '../src/pipeline/errors.js';
import { join } from 'node:path';
import { SafetensorsFile } from '../src/io/safetensors.js';

const lm = Qwen3Model.load(join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints', 'acestep-5Hz-lm-tiny'));
const V = lm.config.vocabSize;

async function lastLogits(seq: number[]): Promise<Float32Array> {
  const t = Tensor.fromArray(Int32Array.from(seq), [1, seq.length]);
  return lm.logits(t, { lastOnly: true }).toFloat32();
}
function argmaxOf(x: ArrayLike<number>, allowed?: (i: number) => boolean): number {
  let best = -1;
  for (let i = 0; i < x.length; i++) if ((!allowed || allowed(i)) && (best < 0 || x[i] > x[best])) best = i;
  return best;
}

const P1 = [5, 17, 42, 99, 123, 7, 250, 3];
const P2 = [11, 200, 13];

/** A processor that allows only ids in [lo, hi), built as an additive -inf mask. */
function bandProcessor(lo: number, hi: number, log: number[][] = []): LogitsProcessor {
  return {
    process(logits, info) {
      const m = new Float32Array(logits.shape[1]);
      for (let c = 0; c < m.length; c++) {
        const id = info.idOf(c);
        m[c] = id >= lo && id < hi ? 0 : -Infinity;
      }
      return add(logits, Tensor.fromArray(m, [1, m.length]));
    },
    update(tokens) {
      log.push([...tokens]);
    },
  };
}

describe('lm generate: greedy', () => {
  it('matches a step-by-step uncached argmax reference, for a batch of unequal prompts', async () => {
    const steps = 10;
    const res = await generate(lm, { prompts: [P1, P2], maxNewTokens: steps, temperature: 0 });
    for (const [i, p] of [P1, P2].entries()) {
      const seq = [...p];
      const want: number[] = [];
      for (let s = 0; s < steps; s++) {
        const t = argmaxOf(await lastLogits(seq));
        want.push(t);
        seq.push(t);
      }
      expect(res.tokens[i]).toEqual(want);
    }
    expect(res.finishReason).toEqual(['length', 'length']);
    expect(res.steps).toBe(steps);
  });

  it('CFG: [cond, uncond] batch equals uncond + s(cond - uncond) computed on the host', async () => {
    const s = 2.5;
    const uncond = [9, 9, 1];
    const res = await generate(lm, { prompts: [P1], uncondPrompts: [uncond], cfgScale: s, maxNewTokens: 6, temperature: 0 });
    const c = [...P1];
    const u = [...uncond];
    const want: number[] = [];
    for (let k = 0; k < 6; k++) {
      const lc = await lastLogits(c);
      const lu = await lastLogits(u);
      const comb = lc.map((x, i) => lu[i] + s * (x - lu[i]));
      const t = argmaxOf(comb);
      // The combined top-2 gap must exceed the cache/no-cache noise for the comparison to be exact.
      const second = argmaxOf(comb, (i) => i !== t);
      expect(comb[t] - comb[second]).toBeGreaterThan(1e-3);
      want.push(t);
      c.push(t);
      u.push(t);
    }
    expect(res.tokens[0]).toEqual(want);
  });

  it('stops a sequence at a stop token and keeps the other running', async () => {
    const free = await generate(lm, { prompts: [P1, P2], maxNewTokens: 8, temperature: 0 });
    const stop = free.tokens[0][2];
    const res = await generate(lm, { prompts: [P1, P2], maxNewTokens: 8, temperature: 0, stopTokens: [stop] });
    for (let i = 0; i < 2; i++) {
      const first = free.tokens[i].indexOf(stop);
      expect(res.tokens[i]).toEqual(first >= 0 ? free.tokens[i].slice(0, first + 1) : free.tokens[i]);
      expect(res.finishReason[i]).toBe(first >= 0 ? 'stop' : 'length');
    }
    expect(res.finishReason[0]).toBe('stop');
  });

  it('logits processors mask the vocabulary and see every sampled token; vocabRanges give the same ids', async () => {
    const log: number[][] = [];
    const res = await generate(lm, { prompts: [P1], maxNewTokens: 6, temperature: 0, processors: [bandProcessor(150, 200, log)] });
    expect(log).toEqual(res.tokens[0].map((t) => [t]));
    const seq = [...P1];
    for (const t of res.tokens[0]) {
      expect(t).toBe(argmaxOf(await lastLogits(seq), (i) => i >= 150 && i < 200));
      seq.push(t);
    }
    const ranged = await generate(lm, { prompts: [P1], maxNewTokens: 6, temperature: 0, vocabRanges: [[150, 200]] });
    expect(ranged.tokens[0]).toEqual(res.tokens[0]);
    // Two ranges: column -> id mapping crosses the gap.
    const two = await generate(lm, {
      prompts: [P1],
      maxNewTokens: 6,
      temperature: 0,
      vocabRanges: [
        [0, 10],
        [290, 300],
      ],
    });
    const seq2 = [...P1];
    for (const t of two.tokens[0]) {
      expect(t).toBe(argmaxOf(await lastLogits(seq2), (i) => i < 10 || i >= 290));
      seq2.push(t);
    }
  });
});

describe('lm generate: sampling', () => {
  const base = { prompts: [P1, P2], maxNewTokens: 12, temperature: 1.0, topP: 1 };

  it('is reproducible for a seed and differs across seeds', async () => {
    const a = await generate(lm, { ...base, seed: 1234 });
    const b = await generate(lm, { ...base, seed: 1234 });
    const c = await generate(lm, { ...base, seed: 99 });
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
    for (const row of a.tokens) for (const t of row) expect(t >= 0 && t < V).toBe(true);
  });

  it('top-k 1 and a tiny top-p both reduce to greedy', async () => {
    const greedy = await generate(lm, { prompts: [P1], maxNewTokens: 8, temperature: 0 });
    const k1 = await generate(lm, { prompts: [P1], maxNewTokens: 8, temperature: 1.3, topK: 1, seed: 5 });
    const p0 = await generate(lm, { prompts: [P1], maxNewTokens: 8, temperature: 1.3, topP: 1e-6, seed: 6 });
    expect(k1.tokens).toEqual(greedy.tokens);
    expect(p0.tokens).toEqual(greedy.tokens);
  });

  it('never samples outside a processor mask or the top-k set', async () => {
    const res = await generate(lm, { ...base, seed: 7, processors: [bandProcessor(40, 60)] });
    for (const row of res.tokens) for (const t of row) expect(t >= 40 && t < 60).toBe(true);
    const res2 = await generate(lm, { prompts: [P1], maxNewTokens: 1, temperature: 1, topK: 3, seed: 3 });
    const l = await lastLogits(P1);
    const top3 = [...l.keys()].sort((x, y) => l[y] - l[x]).slice(0, 3);
    expect(top3).toContain(res2.tokens[0][0]);
  });

  it('a high repetition penalty changes a greedy run that repeats', async () => {
    const plain = await generate(lm, { prompts: [P1], maxNewTokens: 16, temperature: 0 });
    const repeats = new Set(plain.tokens[0]).size < plain.tokens[0].length;
    const pen = await generate(lm, { prompts: [P1], maxNewTokens: 16, temperature: 0, repetitionPenalty: 50 });
    // With penalty 50 a repeated token needs a 50x logit lead; the tiny LM has none that large.
    expect(new Set(pen.tokens[0]).size).toBe(pen.tokens[0].length);
    if (repeats) expect(pen.tokens[0]).not.toEqual(plain.tokens[0]);
  });
});

describe('lm generate: upstream phase 2 (golden lm_two_phase_greedy)', () => {
  // Phase 2 upstream: left-padded [cond; uncond] batch, CFG 2.0, greedy, the FSM's codes phase
  // (codes 0..63999 until int(5 d) codes, then only EOS). The processor below is that codes-phase
  // rule alone; the chosen ids must match exactly (fixture min top-2 gap >= 0.013).
  const dir = join(import.meta.dirname, 'fixtures', 'golden', 'cases', 'lm_two_phase_greedy');
  const codesPhase = (target: number): LogitsProcessor => {
    let count = 0;
    return {
      process(logits, info) {
        const m = new Float32Array(logits.shape[1]).fill(-Infinity);
        if (count < target) for (let id = 151669; id < 151669 + 64000; id++) m[info.columnOf(id)] = 0;
        else m[info.columnOf(151645)] = 0;
        return add(logits, Tensor.fromArray(m, [1, m.length]));
      },
      update() {
        count++;
      },
    };
  };
  it('reproduces phase2_chosen for both scenarios, with the full head and with code-range heads', async () => {
    const out = SafetensorsFile.open(join(dir, 'outputs.safetensors'));
    const ids = (n: string) => Array.from(out.get(n).dataSync() as BigInt64Array, Number);
    const model = Qwen3Model.load(join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints', 'acestep-5Hz-lm-tiny-fullvocab'));
    for (const sc of ['cot', 'all_metas']) {
      const want = ids(`${sc}__phase2_chosen`);
      const opts = {
        prompts: [ids(`${sc}__phase2_cond_prompt_ids`)],
        uncondPrompts: [ids(`${sc}__phase2_uncond_prompt_ids`)],
        cfgScale: 2,
        temperature: 0,
        maxNewTokens: 60,
        stopTokens: [151645, 151643],
        padId: 151643,
      };
      const full = await generate(model, { ...opts, processors: [codesPhase(want.length - 1)] });
      expect(full.tokens[0], sc).toEqual(want);
      expect(full.finishReason[0]).toBe('stop');
      const ranged = await generate(model, {
        ...opts,
        processors: [codesPhase(want.length - 1)],
        vocabRanges: [
          [151645, 151646],
          [151669, 151669 + 64000],
        ],
      });
      expect(ranged.tokens[0], `${sc} (code-range head)`).toEqual(want);
    }
    model.dispose();
    out.close();
  });

  it("takes the cond row's prefix from a Phase-1 cache (prefill + decode steps): same chosen ids, prefill from the uncond row's first token", async () => {
    const out = SafetensorsFile.open(join(dir, 'outputs.safetensors'));
    const ids = (n: string) => Array.from(out.get(n).dataSync() as BigInt64Array, Number);
    const model = Qwen3Model.load(join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints', 'acestep-5Hz-lm-tiny-fullvocab'));
    try {
      for (const sc of ['cot', 'all_metas']) {
        const want = ids(`${sc}__phase2_chosen`);
        const cond = ids(`${sc}__phase2_cond_prompt_ids`);
        const uncond = ids(`${sc}__phase2_uncond_prompt_ids`);
        expect(cond.length).toBeGreaterThan(uncond.length + 4);
        // Phase 1 stand-in: a prefill of the first half of the cond prompt, then decode steps forced
        // onto the following cond ids, as Phase 1 writes its CoT; one step past the cached part
        // differs from the cond prompt, as a sampled token may.
        const half = Math.floor(cond.length / 2);
        const forced = cond.length - 2 - half;
        const force: LogitsProcessor = {
          process(logits, info) {
            const m = new Float32Array(logits.shape[1]).fill(-Infinity);
            m[info.columnOf(info.step < forced ? cond[half + info.step] : 7)] = 0;
            return add(logits, Tensor.fromArray(m, [1, m.length]));
          },
        };
        const p1 = await generate(model, {
          prompts: [cond.slice(0, half)],
          maxNewTokens: forced + 2,
          temperature: 0,
          processors: [force],
          keepCache: true,
        });
        const prefix = p1.cache!;
        try {
          expect(prefix.ids).toEqual([...cond.slice(0, half + forced), 7]);
          expect(prefix.cache.length).toBe(prefix.ids.length);
          const forward = vi.spyOn(model, 'forward');
          const r = await generate(model, {
            prompts: [cond],
            uncondPrompts: [uncond],
            prefix,
            cfgScale: 2,
            temperature: 0,
            maxNewTokens: 60,
            stopTokens: [151645, 151643],
            padId: 151643,
            processors: [codesPhase(want.length - 1)],
          });
          // The cond row shares cond.length - 2 slots with the cache, but the uncond row's
          // first token sits at slot cond.length - uncond.length, where every row's prefill starts.
          expect(forward.mock.calls[0][0].shape, sc).toEqual([2, uncond.length]);
          forward.mockRestore();
          expect(r.tokens[0], sc).toEqual(want);
        } finally {
          prefix.cache.dispose();
        }
      }
    } finally {
      model.dispose();
      out.close();
    }
  });
});

describe('lm generate: streaming, abort, validation', () => {
  it('streams one event per step, the same tokens as onToken and the result', async () => {
    const seen: number[][] = [];
    const it = generateStream(lm, { prompts: [P1, P2], maxNewTokens: 5, temperature: 0, onToken: (t) => seen.push([...t]) });
    const events: number[][] = [];
    let r = await it.next();
    while (!r.done) {
      events.push(r.value.tokens);
      r = await it.next();
    }
    expect(events).toEqual(seen);
    expect(events.map((e) => e[0])).toEqual(r.value.tokens[0]);
    expect(events.length).toBe(5);
  });

  it('honours an AbortSignal between steps', async () => {
    const ac = new AbortController();
    let n = 0;
    const p = generate(lm, {
      prompts: [P1],
      maxNewTokens: 50,
      temperature: 0,
      signal: ac.signal,
      onToken: () => {
        if (++n === 3) ac.abort();
      },
    });
    await expect(p).rejects.toThrow(AbortedError);
    expect(n).toBe(3);
  });

  it('frees the KV cache and every per-step tensor, also when aborted', async () => {
    await settleMemory();
    const before = memoryStats().cpu.inUse;
    let during = 0;
    await generate(lm, {
      prompts: [P1, P2],
      uncondPrompts: [P2, P1],
      cfgScale: 1.5,
      maxNewTokens: 10,
      temperature: 1,
      repetitionPenalty: 1.2,
      topK: 20,
      topP: 0.8,
      seed: 3,
      onToken: () => (during = Math.max(during, memoryStats().cpu.inUse)),
    });
    await flush();
    // The accounting sees the cache while it lives, so the equality below can fail.
    expect(during).toBeGreaterThan(before);
    expect(memoryStats().cpu.inUse).toBe(before);
    const ac = new AbortController();
    await expect(generate(lm, { prompts: [P1], maxNewTokens: 10, signal: ac.signal, onToken: () => ac.abort() })).rejects.toThrow(
      AbortedError,
    );
    await flush();
    expect(memoryStats().cpu.inUse).toBe(before);
  });

  it('keepCache hands over the cache of the prompt and every fed token; the caller frees it', async () => {
    await settleMemory();
    const before = memoryStats().cpu.inUse;
    const r = await generate(lm, { prompts: [P1], maxNewTokens: 5, temperature: 0, keepCache: true });
    const kept = r.cache!;
    // The last sampled token was never fed.
    expect(kept.ids).toEqual([...P1, ...r.tokens[0].slice(0, 4)]);
    expect(kept.cache.length).toBe(P1.length + 4);
    // A run from that cache alone (the prompt = every cached id and the last token) continues it.
    const again = await generate(lm, { prompts: [[...kept.ids, r.tokens[0][4]]], prefix: kept, maxNewTokens: 3, temperature: 0 });
    const whole = await generate(lm, { prompts: [P1], maxNewTokens: 8, temperature: 0 });
    expect(again.tokens[0]).toEqual(whole.tokens[0].slice(5));
    expect(memoryStats().cpu.inUse).toBeGreaterThan(before);
    kept.cache.dispose();
    await settleMemory();
    expect(memoryStats().cpu.inUse).toBe(before);
    // Not kept for CFG or several sequences.
    expect((await generate(lm, { prompts: [P1, P2], maxNewTokens: 2, keepCache: true })).cache).toBeUndefined();
  });

  it('KVCache.copyPrefix rejects a cache of another shape or more slots than it holds', () => {
    const a = lm.createCache(1, 8);
    const b = lm.createCache(2, 8);
    try {
      a.length = 3;
      expect(() => b.copyPrefix(a, 4)).toThrow(ShapeError);
      b.copyPrefix(a, 3);
      expect(b.length).toBe(3);
      const other = new KVCache(1, 1, 8, 1, 8, 'cpu');
      expect(() => b.copyPrefix(other, 0)).toThrow(/does not fit/);
      other.dispose();
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('rejects bad options with ShapeError naming the parameter', async () => {
    await expect(generate(lm, { prompts: [[1, 300]], maxNewTokens: 2 })).rejects.toThrow(/token id 300/);
    await expect(generate(lm, { prompts: [P1], maxNewTokens: 2, cfgScale: 2 })).rejects.toThrow(/unconditional prompt/);
    await expect(generate(lm, { prompts: [P1], maxNewTokens: 0 })).rejects.toThrow(/maxNewTokens/);
    await expect(generate(lm, { prompts: [P1], maxNewTokens: 2, temperature: -1 })).rejects.toThrow(/temperature/);
    await expect(generate(lm, { prompts: [P1], maxNewTokens: 2, vocabRanges: [[10, 5]] })).rejects.toThrow(ShapeError);
    await expect(generate(lm, { prompts: [P1], maxNewTokens: 2, seed: -3 })).rejects.toThrow(/seed/);
  });
});
