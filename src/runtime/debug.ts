// Named intermediates for parity debugging (like llama.cpp's cb(cur, name, il)): model code calls
// tap(name, t); a registered listener (the golden runner, a dump tool) gets a copy of every tapped
// tensor. With no listener tap() costs nothing.
//
// One naming scheme: the upstream module path of the module whose output is tapped, as the
// component's weights are named (`decoder.layers.3` in the DiT, `decoder.block.2` in the VAE,
// `layers.5` and `norm` in a Qwen3 model, `tokenizer.quantizer.project_in`); a value computed
// inside a module's forward that is no module's output is `<module path>:<upstream variable>`
// (`decoder:temb`, `encoder.timbre_encoder:timbre_embs_mask`).
import { keep } from './scope.js';
import type { Tensor } from './tensor.js';

type Listener = (name: string, t: Tensor) => void;
let listener: Listener | null = null;

/** Registers a listener for tapped tensors; returns a function that removes it. */
export function onTap(fn: Listener): () => void {
  listener = fn;
  return () => {
    if (listener === fn) listener = null;
  };
}

/** Whether a listener is registered: model code computes an intermediate only for it when its fast path skips that value. */
export function tapping(): boolean {
  return listener !== null;
}

/** Names `t` and hands a retained copy (the listener owns and disposes it) to the listener. */
export function tap(name: string, t: Tensor): Tensor {
  t.name = name;
  if (listener) {
    const copy = keep(t.contiguous());
    copy.name = name;
    listener(name, copy);
  }
  return t;
}

/** Collects every tapped tensor whose name matches into a map, for the duration of fn. */
export async function collectTaps<T>(
  match: (name: string) => boolean,
  fn: () => Promise<T> | T,
): Promise<{ result: T; taps: Map<string, Float32Array> }> {
  const taps = new Map<string, Float32Array>();
  const pending: Tensor[] = [];
  const off = onTap((name, t) => {
    if (match(name)) pending.push(t);
    else t.dispose();
  });
  try {
    const result = await fn();
    for (const t of pending) taps.set(t.name!, await t.toFloat32());
    return { result, taps };
  } finally {
    off();
    for (const t of pending) t.dispose();
  }
}
