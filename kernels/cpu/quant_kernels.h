// Internal interface between the int8 driver (quant.cc) and its x86 kernels (quant_x86.cc).
#pragma once
#include <cstdint>

#include "../tensor_view.h"

namespace acestep::cpu::quant_detail {

// Rows [n0, n1) of y[M, N] = scale[n] * (x[M, K] . q[n, :]) + bias[n] for M <= 4: x is contiguous
// f32 with row stride K, row n of q starts at q + n * ldq, bias f32 or null, y at c with row stride
// ldc. Each int8 row is read once, front to back, widened to f32 in registers; f32 sums.
void gemv_i8_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* x, const int8_t* q, int64_t ldq, const float* scale,
                    const float* bias, float* c, int64_t ldc);
void gemv_i8_avx2(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* x, const int8_t* q, int64_t ldq, const float* scale,
                  const float* bias, float* c, int64_t ldc);

// The same at bf16 precision with vdpbf16ps (avx512_bf16, with avx512_vbmi for the byte tables):
// each 64-byte line of a q row is widened to 64 bf16 values (exact: integers of at most 8 bits) in
// the lane order `kBf16LineOrder` gives, and xb holds M rows of ceil(K / 64) * 64 bf16 activations
// (zero padded) in that same order, so one vdpbf16ps covers 32 weights of a row against one
// activation row: a third of the vector instructions of widening to f32.
constexpr int kLine = 64;
// Position p (0..63) of a line's bf16 operand holds weight k = kBf16LineOrder(p) of the line.
constexpr int kBf16LineOrder(int p) {
  return 16 * ((p % 32) / 8) + 8 * (p / 32) + p % 8;
}
bool has_bf16dot_i8();  // avx512_bf16 and avx512_vbmi
void gemv_i8_bf16dot_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const uint16_t* xb, const int8_t* q, int64_t ldq,
                            const float* scale, const float* bias, float* c, int64_t ldc);

// The same against activations quantized per row to int16 (quant.h: decode activations), with
// vpdpwssd (avx512_vnni): x16 holds M rows of ceil(K / 64) * 64 int16 (zero padded) in natural
// order, xscale[m] their scales; y = xscale[m] * scale[n] * (x16 . q) + bias, the dot exact in int32
// within chunks of kI16Chunk weights.
constexpr int64_t kI16Chunk = 4096;
bool has_i16dot_i8();  // avx512_vnni and avx512bw
void gemv_i8_i16dot_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const int16_t* x16, const float* xscale, const int8_t* q,
                           int64_t ldq, const float* scale, const float* bias, float* c, int64_t ldc);

// K int8 values into K bf16 (bf16 true) or f32 values at dst, exactly.
void widen_row_i8_avx512(const int8_t* src, int64_t K, void* dst, bool bf16);
void widen_row_i8_avx2(const int8_t* src, int64_t K, void* dst, bool bf16);

// One contiguous row of K f32 or bf16 weights into q (K int8) and its scale, with the arithmetic of
// quantize_int8 (quant.h).
void quantize_row_avx512(const void* w, DType wd, int64_t K, int8_t* q, float* scale);
void quantize_row_avx2(const void* w, DType wd, int64_t K, int8_t* q, float* scale);

}  // namespace acestep::cpu::quant_detail
