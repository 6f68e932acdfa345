// Case format of the differential op harness (test/backend-ops.test.ts): every op family adds a
// file here exporting `cases`. A case builds its inputs from a seed on the given device, runs the
// op and returns the outputs; the harness runs it with the scalar reference kernels, the fast CPU
// kernels and (when available) CUDA, and compares each against the reference.
import type { Device, Tensor } from '../../src/runtime/index.js';

export interface Tolerance {
  atol: number;
  rtol?: number;
  /** Where the tolerance comes from (accumulation order, bf16 rounding, ...). */
  why: string;
  /** Integer outputs (ids, indices) must match exactly. */
  exact?: boolean;
}

export interface OpCase {
  op: string;
  /** Shape/parameter description, unique within the op. */
  name: string;
  tol: Tolerance;
  run(device: Device): Tensor | Tensor[];
  /**
   * What the reference run computes when it is not `run` on the reference kernels: a faster,
   * lower-precision mode compared with the exact op in a looser band (the same inputs at fp32).
   */
  reference?(device: Device): Tensor | Tensor[];
  /** Set when a backend is expected not to support the case. */
  skipCuda?: string;
}
