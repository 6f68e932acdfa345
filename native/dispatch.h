// Backend dispatch for every op: a queued kernel runs on CUDA when its output lives there, else on
// the CPU as the scalar reference or the fast path, whichever setCpuImpl chose when the op was
// queued. Each op family provides cpu::name_ref, cpu::name and cuda::name with one signature, so
// an export names its kernel once and this is the only place that knows whether CUDA is built in.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "buffer.h"
#include "tensor_arg.h"

namespace acestep {

// Where a queued op runs, fixed at enqueue time.
struct Target {
  Device device;
  CpuImpl impl;
};
inline Target target_of(const TensorArg& out) {
  return {out.device(), cpu_impl()};
}

template <typename Cuda, typename Cpu, typename... Args>
void dispatch(const Target& t, Cuda cuda, Cpu reference, Cpu fast, Args&&... args) {
  if (t.device == Device::CUDA) {
    // Unreachable without CUDA: no buffer can be placed on a device this build cannot use.
    if constexpr (std::is_same_v<Cuda, std::nullptr_t>)
      throw std::runtime_error("CUDA backend not compiled");
    else
      return cuda(std::forward<Args>(args)...);
  }
  if (t.impl == CpuImpl::Reference) return reference(std::forward<Args>(args)...);
  return fast(std::forward<Args>(args)...);
}

}  // namespace acestep

#ifdef ACESTEP_CUDA
#define ACESTEP_CUDA_KERNEL(name) &::acestep::cuda::name
#else
#define ACESTEP_CUDA_KERNEL(name) nullptr
#endif

// Runs kernel family `name` on target `t`: ACESTEP_DISPATCH(t, softmax, xv, ov, log).
#define ACESTEP_DISPATCH(t, name, ...) \
  ::acestep::dispatch(t, ACESTEP_CUDA_KERNEL(name), &::acestep::cpu::name##_ref, &::acestep::cpu::name, __VA_ARGS__)
