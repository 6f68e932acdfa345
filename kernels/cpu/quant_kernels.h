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

// One contiguous row of K f32 or bf16 weights into q (K int8) and its scale, with the arithmetic of
// quantize_int8 (quant.h).
void quantize_row_avx512(const void* w, DType wd, int64_t K, int8_t* q, float* scale);

}  // namespace acestep::cpu::quant_detail
