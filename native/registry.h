// Self-registering exports: each native/*.cc file declares its functions with ACESTEP_EXPORT and
// addon.cc exports whatever registered, so op families never edit a central list.
#pragma once
#include <napi.h>

#include <functional>
#include <initializer_list>
#include <utility>

#include "dispatch.h"
#include "queue.h"
#include "tensor_arg.h"

namespace acestep {

using ExportFn = Napi::Value (*)(const Napi::CallbackInfo&);
struct ExportRegistrar {
  ExportRegistrar(const char* name, ExportFn fn);
};
void register_all(Napi::Env env, Napi::Object exports);

// Queues `fn` with the tensors it uses held alive until it has run.
template <typename Fn>
void enqueue_op(Fn&& fn) {
  enqueue(std::function<void()>(std::forward<Fn>(fn)));
}

}  // namespace acestep

#define ACESTEP_EXPORT(name)                                                \
  static Napi::Value export_##name(const Napi::CallbackInfo& info);         \
  static ::acestep::ExportRegistrar registrar_##name(#name, export_##name); \
  static Napi::Value export_##name(const Napi::CallbackInfo& info)
