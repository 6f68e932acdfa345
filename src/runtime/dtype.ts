// Element types and devices known to the runtime, with their native codes and sizes.

/** i8: the int8 weights of quantized linear layers (`quantizeInt8`). */
export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'i64' | 'u8' | 'i8';
export type Device = 'cpu' | 'cuda';

export const DTYPE_CODE: Record<DType, number> = { f32: 0, f16: 1, bf16: 2, i32: 3, i64: 4, u8: 5, i8: 6 };
export const DTYPE_SIZE: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, i32: 4, i64: 8, u8: 1, i8: 1 };

export type HostArray = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

/** The typed array a dtype reads back as (f16/bf16 come back as raw Uint16 bits). */
export function hostArray(dtype: DType, buf: ArrayBuffer): HostArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(buf);
    case 'f16':
    case 'bf16':
      return new Uint16Array(buf);
    case 'i32':
      return new Int32Array(buf);
    case 'i64':
      return new BigInt64Array(buf);
    case 'u8':
      return new Uint8Array(buf);
    case 'i8':
      return new Int8Array(buf);
  }
}

export function isFloat(d: DType): boolean {
  return d === 'f32' || d === 'f16' || d === 'bf16';
}
