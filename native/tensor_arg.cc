// Descriptor parsing and validation for op arguments.
#include "tensor_arg.h"

#include <atomic>

namespace acestep {
namespace {
Napi::FunctionReference* g_ctor = nullptr;
std::atomic<int> g_impl{static_cast<int>(CpuImpl::Fast)};
}  // namespace

Napi::Function BufferHandle::define(Napi::Env env) {
  Napi::Function f =
      DefineClass(env, "BufferHandle",
                  {InstanceMethod("release", &BufferHandle::release), InstanceMethod("retain", &BufferHandle::retain),
                   InstanceAccessor("bytes", &BufferHandle::bytes, nullptr), InstanceAccessor("device", &BufferHandle::device, nullptr)});
  g_ctor = new Napi::FunctionReference(Napi::Persistent(f));
  return f;
}

BufferHandle::BufferHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BufferHandle>(info) {}

Napi::Object BufferHandle::wrap(Napi::Env env, BufferPtr buf) {
  Napi::Object o = g_ctor->New({});
  unwrap(o)->buffer = std::move(buf);
  return o;
}

BufferHandle* BufferHandle::unwrap(Napi::Value v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(g_ctor->Value())) return nullptr;
  return Napi::ObjectWrap<BufferHandle>::Unwrap(v.As<Napi::Object>());
}

Napi::Value BufferHandle::release(const Napi::CallbackInfo& info) {
  buffer.reset();
  return info.Env().Undefined();
}
Napi::Value BufferHandle::retain(const Napi::CallbackInfo& info) {
  if (!buffer) throw Napi::Error::New(info.Env(), "retain() on a released buffer");
  return wrap(info.Env(), buffer);
}
Napi::Value BufferHandle::bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), buffer ? static_cast<double>(buffer->bytes()) : 0);
}
Napi::Value BufferHandle::device(const Napi::CallbackInfo& info) {
  if (!buffer) return info.Env().Null();
  return Napi::String::New(info.Env(), buffer->device() == Device::CPU ? "cpu" : "cuda");
}

// A descriptor is [buffer handle, byte offset, dtype code, shape, strides] (TensorDesc in
// src/runtime/addon-types.ts): read by index, since a named lookup per field cost a string
// internalisation each on every argument of every op.
TensorArg tensor_arg(const Napi::Value& v, const char* name) {
  Napi::Env env = v.Env();
  auto fail = [&](const std::string& m) { throw Napi::TypeError::New(env, std::string("tensor argument '") + name + "': " + m); };
  if (!v.IsArray()) fail("expected a tensor descriptor");
  Napi::Array o = v.As<Napi::Array>();
  if (o.Length() != 5) fail("expected a tensor descriptor of 5 fields");
  BufferHandle* h = BufferHandle::unwrap(o.Get(0u));
  if (h == nullptr) fail("missing buffer handle");
  if (!h->buffer) fail("tensor was disposed");
  TensorArg t;
  t.buffer = h->buffer;
  Napi::Value offv = o.Get(1u), dv = o.Get(2u), sv = o.Get(3u), stv = o.Get(4u);
  if (!offv.IsNumber() || !dv.IsNumber() || !sv.IsArray() || !stv.IsArray()) fail("malformed tensor descriptor");
  double off = offv.As<Napi::Number>().DoubleValue();
  if (off < 0) fail("negative byte offset");
  t.byte_offset = static_cast<size_t>(off);
  int32_t d = dv.As<Napi::Number>().Int32Value();
  if (d < 0 || d > 6) fail("unknown dtype code " + std::to_string(d));
  t.view.dtype = static_cast<DType>(d);
  Napi::Array s = sv.As<Napi::Array>();
  Napi::Array st = stv.As<Napi::Array>();
  if (s.Length() > static_cast<uint32_t>(kMaxDims)) fail("more than 8 dimensions");
  if (st.Length() != s.Length()) fail("strides and shape differ in rank");
  t.view.ndim = static_cast<int>(s.Length());
  // Bounds: the furthest element any index can reach must lie inside the buffer.
  int64_t max_elem = 0;
  bool empty = false;
  for (int i = 0; i < t.view.ndim; i++) {
    int64_t dim = s.Get(i).As<Napi::Number>().Int64Value();
    int64_t stride = st.Get(i).As<Napi::Number>().Int64Value();
    if (dim < 0) fail("negative dimension");
    if (stride < 0) fail("negative stride");
    t.view.shape[i] = dim;
    t.view.strides[i] = stride;
    if (dim == 0)
      empty = true;
    else
      max_elem += (dim - 1) * stride;
  }
  size_t need = empty ? t.byte_offset : t.byte_offset + static_cast<size_t>(max_elem + 1) * dtype_size(t.view.dtype);
  if (need > t.buffer->bytes()) {
    fail("view needs " + std::to_string(need) + " bytes but its buffer has " + std::to_string(t.buffer->bytes()));
  }
  return t;
}

void OpArgs::fail(const std::string& msg) const {
  throw Napi::TypeError::New(info.Env(), std::string(op) + ": " + msg);
}
TensorArg OpArgs::tensor(size_t i, const char* name) const {
  if (info.Length() <= i) fail(std::string("missing tensor argument '") + name + "'");
  return tensor_arg(info[i], name);
}
double OpArgs::number(size_t i, const char* name) const {
  if (info.Length() <= i || !info[i].IsNumber()) fail(std::string("argument '") + name + "' must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}
int64_t OpArgs::integer(size_t i, const char* name) const {
  double d = number(i, name);
  if (d != static_cast<double>(static_cast<int64_t>(d))) fail(std::string("argument '") + name + "' must be an integer");
  return static_cast<int64_t>(d);
}
bool OpArgs::boolean(size_t i, const char* name) const {
  if (info.Length() <= i || !info[i].IsBoolean()) fail(std::string("argument '") + name + "' must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}
std::vector<int64_t> OpArgs::ints(size_t i, const char* name) const {
  if (info.Length() <= i || !info[i].IsArray()) fail(std::string("argument '") + name + "' must be an array");
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) out[k] = a.Get(k).As<Napi::Number>().Int64Value();
  return out;
}

std::string OpArgs::string(size_t i, const char* name) const {
  if (info.Length() <= i || !info[i].IsString()) fail(std::string("argument '") + name + "' must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}
int OpArgs::choice(size_t i, const char* name, std::initializer_list<const char*> options) const {
  std::string s = string(i, name), list;
  int k = 0;
  for (const char* o : options) {
    if (s == o) return k;
    list += std::string(k++ ? ", " : "") + "'" + o + "'";
  }
  fail(std::string("argument '") + name + "' must be one of " + list + ", got '" + s + "'");
}

std::string shape_str(const TensorView& v) {
  std::string s = "[";
  for (int i = 0; i < v.ndim; i++) s += (i ? "," : "") + std::to_string(v.shape[i]);
  return s + "]";
}

void expect_dtype(const OpArgs& a, const TensorArg& t, const char* name, std::initializer_list<DType> allowed) {
  for (DType d : allowed)
    if (t.view.dtype == d) return;
  std::string list;
  for (DType d : allowed) list += std::string(list.empty() ? "" : "|") + dtype_name(d);
  a.fail(std::string("'") + name + "' has dtype " + dtype_name(t.view.dtype) + ", expected " + list);
}
void expect_float(const OpArgs& a, const TensorArg& t, const char* name) {
  expect_dtype(a, t, name, {DType::F32, DType::BF16, DType::F16});
}
void expect_same_device(const OpArgs& a, std::initializer_list<const TensorArg*> ts) {
  Device d = (*ts.begin())->device();
  for (auto* t : ts)
    if (t->device() != d) a.fail("tensors are on different devices");
}
void expect_contiguous(const OpArgs& a, const TensorArg& t, const char* name) {
  if (!t.view.contiguous()) a.fail(std::string("'") + name + "' must be contiguous");
}

void expect_rank(const OpArgs& a, const TensorArg& t, const char* name, int ndim, const char* layout) {
  if (t.view.ndim != ndim) a.fail(std::string(name) + " must be " + layout + ", got " + shape_str(t.view));
}
void expect_shape_of(const OpArgs& a, const TensorArg& t, const TensorArg& ref, const char* name) {
  bool same = t.view.ndim == ref.view.ndim;
  for (int i = 0; same && i < t.view.ndim; i++) same = t.view.shape[i] == ref.view.shape[i];
  if (!same) a.fail(std::string("'") + name + "' has shape " + shape_str(t.view) + ", expected " + shape_str(ref.view));
}
void expect_out(const OpArgs& a, const TensorArg& out, DType dtype) {
  expect_dtype(a, out, "out", {dtype});
  expect_contiguous(a, out, "out");
}
int op_code(const OpArgs& a, size_t i, int count) {
  int64_t op = a.integer(i, "op");
  if (op < 0 || op >= count) a.fail("unknown op code " + std::to_string(op));
  return static_cast<int>(op);
}
OptTensor opt_tensor(const OpArgs& a, size_t i, const char* name) {
  OptTensor t;
  if (a.has(i)) {
    t.present = true;
    t.arg = a.tensor(i, name);
  }
  return t;
}

cpu::GemmPrecision precision_arg(const OpArgs& a, size_t i) {
  if (!a.has(i)) return cpu::GemmPrecision::F32;
  int64_t p = a.integer(i, "precision");
  if (p != 0 && p != 1) a.fail("precision must be 0 (fp32) or 1 (bf16), got " + std::to_string(p));
  return static_cast<cpu::GemmPrecision>(p);
}

CpuImpl cpu_impl() {
  return static_cast<CpuImpl>(g_impl.load());
}
void set_cpu_impl(CpuImpl impl) {
  g_impl.store(static_cast<int>(impl));
}

}  // namespace acestep
