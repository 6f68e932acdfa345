// setCpuIsa: the one switch over which vector ISA the CPU fast paths use, per kernel family, so
// tests and benchmarks can run the AVX2 and portable paths on an AVX-512 machine. The levels are
// shared by every family ('scalar' = portable C++ with no explicit SIMD); a family without a
// level's special instructions uses the next lower level it has.
#include <algorithm>

#include "../kernels/cpu/attention.h"
#include "../kernels/cpu/elementwise.h"
#include "../kernels/cpu/gemm_kernels.h"
#include "registry.h"

using namespace acestep;

namespace {

// Argument order of setCpuIsa's `isa`; the names double as what the call returns.
enum Level { Scalar, Avx2, Avx512, Avx512Bf16, Auto };
const char* const kLevelNames[] = {"scalar", "avx2", "avx512", "avx512bf16"};

// GEMM: avx512bf16 is AVX-512 with vdpbf16ps for bf16 precision; auto takes the widest ISA and
// times vdpbf16ps against f32 FMA once to pick the bf16 kernel.
Level gemm_isa(Level want) {
  using cpu::gemm_detail::Isa;
  Isa isa = want == Auto ? Isa::Avx512 : static_cast<Isa>(want == Avx512Bf16 ? Avx512 : want);
  int dot = want == Auto ? -1 : want == Avx512Bf16 ? 1 : 0;
  Isa got = cpu::gemm_detail::resolve_isa(isa);
  bool dot_on = got == Isa::Avx512 && cpu::gemm_detail::bf16_dot_for(dot);
  enqueue_op([isa, dot] {
    cpu::gemm_detail::set_isa(isa);
    cpu::gemm_detail::set_bf16_dot(dot);
  });
  return dot_on ? Avx512Bf16 : static_cast<Level>(got);
}

Level attention_isa(Level want) {
  using cpu::AttentionIsa;
  AttentionIsa isa = want == Auto     ? AttentionIsa::Auto
                     : want == Scalar ? AttentionIsa::Generic
                     : want == Avx2   ? AttentionIsa::Avx2
                                      : AttentionIsa::Avx512;
  enqueue_op([isa] { cpu::set_attention_isa(isa); });
  AttentionIsa got = cpu::resolve_attention_isa(isa);
  return got == AttentionIsa::Avx512 ? Avx512 : got == AttentionIsa::Avx2 ? Avx2 : Scalar;
}

// Every pointwise family (elementwise, norm, rope, softmax, reduce, embedding, conv, snake).
Level pointwise_isa(Level want) {
  int level = want == Auto ? cpu::pointwise_isa_best() : want == Avx512Bf16 ? Avx512 : want;
  level = std::min(level, cpu::pointwise_isa_best());
  enqueue_op([level] { cpu::set_pointwise_isa(level); });
  return static_cast<Level>(level);
}

}  // namespace

// setCpuIsa(family: 'gemm' | 'attention' | 'pointwise', isa: 'scalar' | 'avx2' | 'avx512' |
// 'avx512bf16' | 'auto') -> the level now in effect for that family (capped by the CPU). The
// switch is queued like an op: work queued before it keeps the ISA it was issued under.
ACESTEP_EXPORT(setCpuIsa) {
  OpArgs a{info, "setCpuIsa"};
  int family = a.choice(0, "family", {"gemm", "attention", "pointwise"});
  auto want = static_cast<Level>(a.choice(1, "isa", {"scalar", "avx2", "avx512", "avx512bf16", "auto"}));
  Level got = family == 0 ? gemm_isa(want) : family == 1 ? attention_isa(want) : pointwise_isa(want);
  return Napi::String::New(info.Env(), kLevelNames[got]);
}
