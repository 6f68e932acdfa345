// Module entry: the buffer/queue core (allocation, host transfers, sync points, memory and
// thread settings) plus every export registered by the op files.
#include <napi.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "../kernels/cpu/parallel.h"
#include "backend_cuda.h"
#include "registry.h"

namespace acestep {
namespace {

std::map<std::string, ExportFn>& exports_table() {
  static std::map<std::string, ExportFn> t;
  return t;
}

// A device name ('cpu' | 'cuda'); `usable` also requires that CUDA can run here.
Device device_arg(const OpArgs& a, size_t i, bool usable = true) {
  Device d = a.choice(i, "device", {"cpu", "cuda"}) == 0 ? Device::CPU : Device::CUDA;
  if (usable && d == Device::CUDA && !cuda_available()) a.fail("CUDA is unavailable: " + cuda_status());
  return d;
}

Napi::Error queue_error(Napi::Env env, const QueueError& e) {
  Napi::Error err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, e.kind == ErrorKind::OutOfMemory ? "ERR_OUT_OF_MEMORY" : "ERR_KERNEL"));
  return err;
}

// Completions from the queue thread come back to JS through one thread-safe function.
struct Completion {
  std::function<void(Napi::Env)> run;
};
Napi::ThreadSafeFunction g_tsfn;
int g_pending = 0;  // main thread only: completions not yet delivered

void deliver(Napi::Env env, Napi::Function, Completion* c) {
  if (--g_pending == 0) g_tsfn.Unref(env);
  if (env != nullptr) c->run(env);
  delete c;
}

void post(std::function<void(Napi::Env)> fn) {
  g_tsfn.NonBlockingCall(new Completion{std::move(fn)}, deliver);
}

void begin_pending(Napi::Env env) {
  if (g_pending++ == 0) g_tsfn.Ref(env);
}

}  // namespace

ExportRegistrar::ExportRegistrar(const char* name, ExportFn fn) {
  exports_table()[name] = fn;
}

void register_all(Napi::Env env, Napi::Object exports) {
  for (auto& [name, fn] : exports_table()) exports.Set(name, Napi::Function::New(env, fn, name));
}

}  // namespace acestep

using namespace acestep;

// empty(bytes, device) -> BufferHandle whose memory is allocated on first use.
ACESTEP_EXPORT(empty) {
  OpArgs a{info, "empty"};
  double bytes = a.number(0, "bytes");
  if (bytes < 0 || bytes > 1e15) a.fail("invalid byte count " + std::to_string(bytes));
  Device d = device_arg(a, 1);
  return BufferHandle::wrap(info.Env(), std::make_shared<Buffer>(static_cast<size_t>(bytes), d));
}

// fromHost(arrayBufferView, device) -> BufferHandle holding a copy of the bytes.
ACESTEP_EXPORT(fromHost) {
  OpArgs a{info, "fromHost"};
  if (!info[0].IsTypedArray() && !info[0].IsDataView()) a.fail("expected a typed array");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  size_t bytes = ta.ByteLength();
  const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  Device d = device_arg(a, 1);
  auto buf = std::make_shared<Buffer>(bytes, d);
  if (d == Device::CPU) {
    uint8_t* dst;
    try {
      dst = buf->data();
    } catch (const OutOfMemory& e) {
      Napi::Error err = Napi::Error::New(info.Env(), e.what());
      err.Set("code", Napi::String::New(info.Env(), "ERR_OUT_OF_MEMORY"));
      throw err;
    }
    if (bytes) std::memcpy(dst, src, bytes);
  } else {
    auto host = std::make_shared<std::vector<uint8_t>>(src, src + bytes);
    enqueue_op([buf, host] { cuda_copy_h2d(buf->data(), host->data(), host->size()); });
  }
  return BufferHandle::wrap(info.Env(), buf);
}

// read(desc) -> Promise<ArrayBuffer> with the bytes of a contiguous tensor.
ACESTEP_EXPORT(read) {
  OpArgs a{info, "read"};
  TensorArg t = a.tensor(0, "tensor");
  expect_contiguous(a, t, "tensor");
  Napi::Env env = info.Env();
  size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(t.view.dtype);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, bytes);
  auto ref = std::make_shared<Napi::Reference<Napi::ArrayBuffer>>(Napi::Persistent(ab));
  uint8_t* dst = static_cast<uint8_t*>(ab.Data());
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  begin_pending(env);
  enqueue_op([t, dst, bytes]() mutable {
    if (bytes == 0) return;
    const uint8_t* src = t.buffer->data() + t.byte_offset;
    if (t.device() == Device::CPU)
      std::memcpy(dst, src, bytes);
    else
      cuda_copy_d2h(dst, src, bytes);
  });
  enqueue_sync_point([deferred, ref](QueueError e) {
    post([deferred, ref, e](Napi::Env env) {
      Napi::HandleScope scope(env);
      if (e.kind != ErrorKind::None)
        deferred->Reject(queue_error(env, e).Value());
      else
        deferred->Resolve(ref->Value());
    });
  });
  return deferred->Promise();
}

// readSync(desc) -> ArrayBuffer; blocks until the queue has run everything before it.
ACESTEP_EXPORT(readSync) {
  OpArgs a{info, "readSync"};
  TensorArg t = a.tensor(0, "tensor");
  expect_contiguous(a, t, "tensor");
  QueueError e = drain();
  if (e.kind != ErrorKind::None) throw queue_error(info.Env(), e);
  size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(t.view.dtype);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), bytes);
  if (bytes) {
    // This runs on the JS thread: a CUDA fault reported by the copy (or a failed lazy
    // allocation) must become a JS error, not an exception escaping the callback.
    try {
      const uint8_t* src = t.buffer->data() + t.byte_offset;
      if (t.device() == Device::CPU)
        std::memcpy(ab.Data(), src, bytes);
      else
        cuda_copy_d2h(ab.Data(), src, bytes);
    } catch (const OutOfMemory& oom) {
      throw queue_error(info.Env(), {ErrorKind::OutOfMemory, oom.what()});
    } catch (const std::exception& err) {
      throw queue_error(info.Env(), {ErrorKind::Kernel, err.what()});
    }
  }
  return ab;
}

// sync() -> Promise<void> resolved when all queued work has run; rejects with the first error.
ACESTEP_EXPORT(sync) {
  Napi::Env env = info.Env();
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  begin_pending(env);
  enqueue_sync_point([deferred](QueueError e) {
    post([deferred, e](Napi::Env env) {
      Napi::HandleScope scope(env);
      if (e.kind != ErrorKind::None)
        deferred->Reject(queue_error(env, e).Value());
      else
        deferred->Resolve(env.Undefined());
    });
  });
  return deferred->Promise();
}

// syncBlocking(): waits on the main thread; throws the first queued error.
ACESTEP_EXPORT(syncBlocking) {
  QueueError e = drain();
  if (e.kind != ErrorKind::None) throw queue_error(info.Env(), e);
  return info.Env().Undefined();
}

ACESTEP_EXPORT(memoryStats) {
  Napi::Object o = Napi::Object::New(info.Env());
  for (Device d : {Device::CPU, Device::CUDA}) {
    Napi::Object s = Napi::Object::New(info.Env());
    s.Set("inUse", static_cast<double>(bytes_in_use(d)));
    s.Set("peak", static_cast<double>(peak_bytes(d)));
    s.Set("limit", static_cast<double>(memory_limit(d)));
    o.Set(d == Device::CPU ? "cpu" : "cuda", s);
  }
  o.Set("queued", static_cast<double>(queued_tasks()));
  o.Set("cpuCached", static_cast<double>(cpu_cached_bytes()));
  return o;
}

// setMemoryLimit(device, bytes): 0 removes the limit.
ACESTEP_EXPORT(setMemoryLimit) {
  OpArgs a{info, "setMemoryLimit"};
  set_memory_limit(device_arg(a, 0, false), static_cast<size_t>(a.number(1, "bytes")));
  return info.Env().Undefined();
}

// releaseCachedMemory(): frees the CPU block cache once queued work has run; returns the bytes.
ACESTEP_EXPORT(releaseCachedMemory) {
  drain();
  return Napi::Number::New(info.Env(), static_cast<double>(release_cpu_cache()));
}

// setCpuCacheLimit(bytes): cap on the CPU block cache (0 disables caching).
ACESTEP_EXPORT(setCpuCacheLimit) {
  OpArgs a{info, "setCpuCacheLimit"};
  set_cpu_cache_limit(static_cast<size_t>(a.number(0, "bytes")));
  return info.Env().Undefined();
}

// setNumThreads(n): resizes the CPU pool once the queue is idle.
ACESTEP_EXPORT(setNumThreads) {
  OpArgs a{info, "setNumThreads"};
  // Clamped before the cast (a double beyond int is undefined); the pool caps it at max_threads().
  int n = static_cast<int>(std::clamp<int64_t>(a.integer(0, "n"), 0, 1 << 20));
  drain();
  cpu::set_num_threads(n);
  return info.Env().Undefined();
}
ACESTEP_EXPORT(numThreads) {
  return Napi::Number::New(info.Env(), cpu::num_threads());
}

// setCpuImpl("fast" | "reference"): which CPU kernels later ops use.
ACESTEP_EXPORT(setCpuImpl) {
  OpArgs a{info, "setCpuImpl"};
  set_cpu_impl(a.choice(0, "impl", {"fast", "reference"}) == 0 ? CpuImpl::Fast : CpuImpl::Reference);
  return info.Env().Undefined();
}

ACESTEP_EXPORT(cudaInfo) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("compiled", cuda_compiled());
  o.Set("available", cuda_available());
  o.Set("status", cuda_status());
  return o;
}

ACESTEP_EXPORT(cpuFeatures) {
  Napi::Object o = Napi::Object::New(info.Env());
  __builtin_cpu_init();
  o.Set("avx2", static_cast<bool>(__builtin_cpu_supports("avx2")));
  o.Set("fma", static_cast<bool>(__builtin_cpu_supports("fma")));
  o.Set("f16c", static_cast<bool>(__builtin_cpu_supports("f16c")));
  o.Set("avx512f", static_cast<bool>(__builtin_cpu_supports("avx512f")));
  o.Set("avx512bf16", static_cast<bool>(__builtin_cpu_supports("avx512bf16")));
  o.Set("avx512vnni", static_cast<bool>(__builtin_cpu_supports("avx512vnni")));
  return o;
}

static Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("BufferHandle", BufferHandle::define(env));
  g_tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function(), "acestep-queue", 0, 1);
  g_tsfn.Unref(env);
  register_all(env, exports);
  return exports;
}

NODE_API_MODULE(acestep, init)
