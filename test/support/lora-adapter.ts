// A PEFT LoRA adapter for the tiny DiT of scripts/make-tiny-checkpoints.ts, written to disk for
// the LoRA tests of the API and the CLI.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/io/safetensors.js';

/** A rank-4 PEFT adapter on every attention projection of the tiny DiT (hidden 64, kv 32). */
export function writeAdapter(path: string, k = 1): void {
  mkdirSync(path, { recursive: true });
  writeFileSync(
    join(path, 'adapter_config.json'),
    JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] }),
  );
  const t: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  const wave = (shape: number[]) => {
    const n = shape[0] * shape[1];
    k += 0.41;
    return { dtype: 'F32' as const, shape, data: Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin(i * k + k)) };
  };
  for (let i = 0; i < 4; i++) {
    for (const blk of ['self_attn', 'cross_attn']) {
      for (const [p, out] of [
        ['q', 64],
        ['k', 32],
        ['v', 32],
        ['o', 64],
      ] as const) {
        t[`base_model.model.layers.${i}.${blk}.${p}_proj.lora_A.weight`] = wave([4, 64]);
        t[`base_model.model.layers.${i}.${blk}.${p}_proj.lora_B.weight`] = wave([out, 4]);
      }
    }
  }
  writeSafetensors(join(path, 'adapter_model.safetensors'), t);
}
