// Stage: fix the DiT adapter a generation runs with, at its start: the per-call lora_id / lora_scale
// when given (that call only; engine.adapters is left as it is), else the engine's active adapter
// at its scale. Later loads, unloads and rescales reach only later calls.
import type { AdapterSnapshot } from '../../models/lora.js';
import type { AceStep } from '../engine.js';
import { ParamError, type GenerationParams } from '../params.js';

/** The run's adapter snapshot; the caller releases it when the run ends. */
export function snapshotAdapters(engine: AceStep, p: GenerationParams): AdapterSnapshot {
  const mgr = engine.adapters;
  if (p.loraId !== null && !mgr.has(p.loraId)) {
    const loaded = mgr.list().map((a) => a.name);
    throw new ParamError('loraId', `no adapter named '${p.loraId}' is loaded in engine.adapters (loaded: ${loaded.join(', ') || 'none'})`);
  }
  return mgr.snapshot({ name: p.loraId ?? undefined, scale: p.loraScale ?? undefined });
}
