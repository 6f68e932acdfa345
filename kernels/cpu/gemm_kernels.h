// Internal interface between the GEMM driver (gemm.cc) and its ISA-specific kernels
// (gemm_x86.cc): packed-panel formats, micro-kernel signatures and the GEMV entry points.
#pragma once
#include <cstdint>

#include "../tensor_view.h"

namespace acestep::cpu::gemm_detail {

// Register tile of the micro-kernels: MR rows of A by NR columns of B.
constexpr int MR = 8;
constexpr int NR = 32;

// Packed panels (zero padded to MR / NR and to an even k count for pairs):
//  f32:  A[k * MR + i], B[k * NR + j]
//  bf16 pairs (for vdpbf16ps): A as u32 [kp * MR + i] holding (k = 2kp, 2kp+1) in (low, high)
//  halves; B as u16 [(kp * NR + j) * 2 + e] for k = 2kp + e.
// A micro-kernel computes the MR x NR tile, then stores its first mr rows / nr columns into C
// (row stride ldc): C = acc ? C + tile : (bias ? bias[j] : 0) + tile.
using UkrF32 = void (*)(int64_t kc, const float* A, const float* B, float* C, int64_t ldc, int mr, int nr, bool acc, const float* bias);
using UkrBF16 = void (*)(int64_t kpairs, const uint32_t* A, const uint16_t* B, float* C, int64_t ldc, int mr, int nr, bool acc,
                         const float* bias);

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

void ukr_f32_avx512(int64_t, const float*, const float*, float*, int64_t, int, int, bool, const float*);
void ukr_f32_avx2(int64_t, const float*, const float*, float*, int64_t, int, int, bool, const float*);
void ukr_bf16_avx512(int64_t, const uint32_t*, const uint16_t*, float*, int64_t, int, int, bool, const float*);

// bf16 precision against k-contiguous bf16 weights [N, K] without packing them: the weights are the
// broadcast operand, read in place as (k, k+1) pairs from WR rows at a time, and XR activation rows
// are the vector operand, packed as bf16 pairs X[p * XR + m] (zero padded past mr rows and K).
// The kernel computes C[m, n] for m < mcols, n < rows of the tile (C points at its first element):
// C = acc ? C + tile : (bias ? bias[n] : 0) + tile. 8 x 48 keeps 24 accumulators, 3 activation
// vectors and a broadcast in the 32 registers with 11 loads per 24 vdpbf16ps, and its 8-column
// C rows are written as whole 256-bit runs. Needs avx512_bf16.
constexpr int XR = 48;
constexpr int WR = 8;
void pack_x_pairs_avx512(const float* a, int64_t lda, int mr, int64_t K, uint32_t* dst);
void ukr_bf16w_avx512(int64_t kpairs, const uint32_t* X, const uint16_t* w, int64_t ldw, int rows, int mcols, float* C, int64_t ldc,
                      bool acc, const float* bias);

// SIMD packers for the common layouts. k-contiguous B (weights [N, K]: column n of B starts at
// w + n * ldw) is transposed 16 x 16 at a time. The bf16-pair packers need avx512_bf16.
void pack_b_kcontig_f32_avx512(const void* w, DType wd, int64_t ldw, int64_t k0, int64_t kc, int64_t j0, int nr, bool round_bf16,
                               float* dst);
void pack_b_kcontig_bf16_avx512(const void* w, DType wd, int64_t ldw, int64_t k0, int64_t kc, int64_t j0, int nr, uint16_t* dst);
// A rows (row-major f32, row stride lda) as bf16 pairs.
void pack_a_f32rows_bf16_avx512(const float* a, int64_t lda, int mr, int64_t kc, uint32_t* dst);
// MR full rows of row-major f32 A (row stride lda) into the f32 panel A[k * MR + i], 8 x 8
// register transposes (the portable packer's strided per-element copy was ~3% of a DiT forward).
void pack_a_f32rows8_avx2(const float* a, int64_t lda, int64_t kc, float* dst);

// Rows of y[M, N] = x[M, K] * W^T for M <= 4 where row n of W (k-contiguous, stride ldw, type wd)
// is streamed once; columns [n0, n1) only. x is contiguous f32 with row stride K.
void gemv_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* x, const void* w, DType wd, int64_t ldw, const float* bias,
                 float* c, int64_t ldc);
void gemv_avx2(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* x, const void* w, DType wd, int64_t ldw, const float* bias,
               float* c, int64_t ldc);
// The same for bf16 precision against bf16 weights (avx512_bf16): x is M rows of K bf16 values
// (the activations rounded to bf16), products summed by vdpbf16ps in f32.
void gemv_bf16dot_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const uint16_t* x, const uint16_t* w, int64_t ldw, const float* bias,
                         float* c, int64_t ldc);

// W8A8 (avx512_vnni): XR activation rows quantized to u8 (per-row scale sa and zero point zp, the
// rounding of kernels/cpu/gemm.h) and packed as quads X[p * XR + m] holding k = 4p..4p+3 (low to
// high byte), zero padded past mr rows. K % 4 == 0.
bool has_avx512_vnni();
void pack_xq_quads_avx512(const float* a, int64_t lda, int mr, int64_t K, const float* sa, const int32_t* zp, uint32_t* dst);
// Row lo / hi of the W8A8 activation quantization (min / max with 0 folded in) and whether every
// value is finite.
bool row_range_avx512(const float* x, int64_t K, float* lo, float* hi);
// The WR x mcols tile of a W8A8 linear over kquads quads: int8 weight rows (k-contiguous, stride
// ldw) broadcast 4 bytes at a time against the packed u8 activations (vpdpbusd, int32 sums), then
// C[m, n] = float(sum - zp[m] * rowsum[n]) * (sa[m] * sw[n]) (+ bias[n]); sa / zp index the XR-row
// block, sw / rowsum / bias its first weight row.
void ukr_w8a8_avx512(int64_t kquads, const uint32_t* X, const int8_t* w, int64_t ldw, int rows, int mcols, float* C, int64_t ldc,
                     const float* sa, const int32_t* zp, const float* sw, const int32_t* rowsum, const float* bias);

// W8A8 on AVX2 (vpmaddwd): activations quantized by the same rounding steps into row-major int16
// (K padded to even with a zero), and W8A8_NR int8 weight rows packed as int16 (k, k+1) pairs
// B[(p * W8A8_NR + j) * 2 + e] (rows past `rows` and k past K zero; 64-byte aligned dst). The
// kernel computes the mr x rows tile (mr <= W8A8_MR) of C = float(sum - zp * rowsum) * (sa * sw)
// (+ bias) over kpairs pairs; X points at the tile's first activation row (row stride ldx int16),
// sa / zp at its rows, sw / rowsum / bias at its first weight row (readable for W8A8_NR entries).
// 6 x 16: 12 accumulators, 2 weight vectors, a broadcast and the product fill the 16 registers.
constexpr int W8A8_MR = 6, W8A8_NR = 16;
bool row_range_avx2(const float* x, int64_t K, float* lo, float* hi);
void quantize_row_u8_i16_avx2(const float* x, int64_t K, float sa, int32_t zp, int16_t* dst);
void pack_w8_pairs_avx2(const int8_t* w, int64_t ldw, int rows, int64_t K, int16_t* dst);
void ukr_w8a8_avx2(int64_t kpairs, const int16_t* X, int64_t ldx, int mr, const int16_t* B, int rows, float* C, int64_t ldc,
                   const float* sa, const int32_t* zp, const float* sw, const int32_t* rowsum, const float* bias);

float stream_sum_avx512(const float* p, int64_t n);
double fma_loop_avx512(int64_t iters);  // returns flops done
double fma_loop_avx2(int64_t iters);
double dpbf16_loop_avx512(int64_t iters);  // returns flops done (2 per bf16 pair product)

Isa detect_isa();
bool has_avx512_bf16();
// Overrides the ISA the fast path uses (tests and benchmarks cover the fallbacks); Scalar..Avx512,
// clamped to what the CPU supports (resolve_isa says to what). Returns the ISA now in effect.
Isa set_isa(Isa want);
Isa resolve_isa(Isa want);
Isa current_isa();
// Which kernel bf16 precision uses on AVX-512: -1 auto (timed once), 0 f32 FMA on bf16-rounded
// operands, 1 vdpbf16ps (only where the CPU has avx512_bf16). Returns whether vdpbf16ps is in use;
// bf16_dot_for says whether a mode would use it.
bool set_bf16_dot(int mode);
bool bf16_dot_for(int mode);
bool bf16_dot_in_use();
// The GEMV's choice: vdpbf16ps wherever the CPU has it unless mode 0 forces the FMA kernel (a
// GEMV is bound by its weight stream, so the FMA-rate probe of auto mode does not apply).
bool bf16_dot_for_gemv();

}  // namespace acestep::cpu::gemm_detail
