// CUDA device management for the addon: driver probe, pooled device allocator, host transfers,
// and the stream every kernel launches on. Plain C++ interface; no N-API.
#pragma once
#include <cstddef>
#include <string>

namespace acestep::cuda {

// Probes the driver and device 0. On failure returns false with the reason in *status.
bool init(std::string* status);
void* device_alloc(size_t bytes);  // nullptr when out of memory
void device_free(void* p, size_t bytes);
void copy_h2d(void* dst, const void* src, size_t bytes);
void copy_d2h(void* dst, const void* src, size_t bytes);
void synchronize();  // throws std::runtime_error with the CUDA error string
void* stream();      // cudaStream_t of the queue thread

}  // namespace acestep::cuda
