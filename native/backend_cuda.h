// What the N-API layer needs from the CUDA backend; stubs when CUDA is not compiled in.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace acestep {
bool cuda_compiled();
bool cuda_available();                                         // compiled, a driver is present and a device was found
std::string cuda_status();                                     // device name, or why CUDA cannot be used
void cuda_copy_h2d(void* dst, const void* src, size_t bytes);  // queue thread only
void cuda_copy_d2h(void* dst, const void* src, size_t bytes);  // queue thread only
// CUDA graph capture of the queue stream (queue thread only); see kernels/cuda/runtime.h.
void cuda_graph_begin();
void cuda_graph_end(int64_t handle);
void cuda_graph_launch(int64_t handle);
void cuda_graph_destroy(int64_t handle);
}  // namespace acestep
