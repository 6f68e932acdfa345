// N-API side of tensors: the JS `BufferHandle` object that owns a reference to a Buffer, and
// TensorArg, a checked tensor descriptor ({buffer, byteOffset, dtype, shape, strides}) passed by
// src/runtime into every op. Ops validate here, on the main thread, so bad calls throw in JS.
#pragma once
#include <napi.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "../kernels/cpu/gemm.h"
#include "../kernels/tensor_view.h"
#include "buffer.h"

namespace acestep {

class BufferHandle : public Napi::ObjectWrap<BufferHandle> {
 public:
  static Napi::Function define(Napi::Env env);
  static Napi::Object wrap(Napi::Env env, BufferPtr buf);
  static BufferHandle* unwrap(Napi::Value v);
  explicit BufferHandle(const Napi::CallbackInfo& info);

  BufferPtr buffer;  // empty after release()

 private:
  Napi::Value release(const Napi::CallbackInfo& info);
  Napi::Value bytes(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value retain(const Napi::CallbackInfo& info);
};

struct TensorArg {
  BufferPtr buffer;
  size_t byte_offset = 0;
  TensorView view;  // data is filled in by resolve() on the queue thread

  Device device() const { return buffer->device(); }
  int64_t numel() const { return view.numel(); }
  // Fills view.data, allocating the buffer on first touch. Queue thread only.
  TensorView resolve() {
    TensorView v = view;
    v.data = buffer->data() + byte_offset;
    return v;
  }
};

// Reads a descriptor [b, o, d, s, t]. `name` appears in error messages.
TensorArg tensor_arg(const Napi::Value& v, const char* name);

// Argument helpers that throw a JS TypeError naming the op and argument.
struct OpArgs {
  const Napi::CallbackInfo& info;
  const char* op;
  TensorArg tensor(size_t i, const char* name) const;
  double number(size_t i, const char* name) const;
  int64_t integer(size_t i, const char* name) const;
  bool boolean(size_t i, const char* name) const;
  std::vector<int64_t> ints(size_t i, const char* name) const;
  std::string string(size_t i, const char* name) const;
  // Index of string argument i within `options`; anything else fails naming the options.
  int choice(size_t i, const char* name, std::initializer_list<const char*> options) const;
  bool has(size_t i) const { return info.Length() > i && !info[i].IsUndefined() && !info[i].IsNull(); }
  [[noreturn]] void fail(const std::string& msg) const;
};

// An optional tensor argument (null/undefined = absent); absent ones resolve to a view with
// data == nullptr, which the kernels read as "none".
struct OptTensor {
  bool present = false;
  TensorArg arg;
  TensorView resolve() { return present ? arg.resolve() : TensorView{}; }
};
OptTensor opt_tensor(const OpArgs& a, size_t i, const char* name);

// The checks every op's glue makes, each failing with a message that names the op and argument.
void expect_dtype(const OpArgs& a, const TensorArg& t, const char* name, std::initializer_list<DType> allowed);
void expect_float(const OpArgs& a, const TensorArg& t, const char* name);  // f32, bf16 or f16
void expect_same_device(const OpArgs& a, std::initializer_list<const TensorArg*> ts);
void expect_contiguous(const OpArgs& a, const TensorArg& t, const char* name);
void expect_rank(const OpArgs& a, const TensorArg& t, const char* name, int ndim, const char* layout);
// t has exactly ref's shape.
void expect_shape_of(const OpArgs& a, const TensorArg& t, const TensorArg& ref, const char* name);
// Outputs are allocated by the TS wrappers as contiguous f32 (i32 for argmax and sampleRace).
void expect_out(const OpArgs& a, const TensorArg& out, DType dtype = DType::F32);
// An optional precision argument: 0 fp32 (also when absent), 1 bf16 (linear, matmul, convolutions).
cpu::GemmPrecision precision_arg(const OpArgs& a, size_t i);
// An op-code argument in [0, count) (the enums in kernels/cpu/*.h).
int op_code(const OpArgs& a, size_t i, int count);
std::string shape_str(const TensorView& v);

// Which CPU kernels the queue runs: the fast SIMD paths or the scalar references
// (the differential harness switches this). Captured per op at enqueue time.
enum class CpuImpl { Fast, Reference };
CpuImpl cpu_impl();
void set_cpu_impl(CpuImpl impl);

}  // namespace acestep
