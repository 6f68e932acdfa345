// Memory-mapped files as buffers (safetensors weights become zero-copy tensor views; no 4 GiB
// Buffer limit). Mapped private and writable: a stray write copies a page instead of faulting.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "registry.h"

using namespace acestep;

// mapFile(path, populate) -> BufferHandle over the whole file (an empty file maps to a 0-byte
// buffer). populate: map every page now (model weights at load), so that the first request does
// not take one page fault per 64 KiB of weights it reads, nor their disk reads when the page
// cache was dropped: read faults (MADV_POPULATE_READ), which leave the private mapping shared with
// the page cache; best effort (kernels before 5.14 refuse the advice and the pages fault on use).
ACESTEP_EXPORT(mapFile) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "mapFile: path must be a string");
  if (info.Length() > 1 && !info[1].IsBoolean()) throw Napi::TypeError::New(env, "mapFile: populate must be a boolean");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  const bool populate = info.Length() > 1 && info[1].As<Napi::Boolean>().Value();
  auto fail = [&](const std::string& what) {
    Napi::Error e = Napi::Error::New(env, path + ": " + what + ": " + std::strerror(errno));
    e.Set("code", Napi::String::New(env, "ERR_FILE"));
    throw e;
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail("cannot stat");
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* p = nullptr;
  if (size > 0) {
    p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      fail("cannot mmap");
    }
#ifdef MADV_POPULATE_READ
    if (populate) ::madvise(p, size, MADV_POPULATE_READ);
#endif
  }
  ::close(fd);
  auto buf = std::make_shared<Buffer>(p, size, Device::CPU, [](void* q, size_t n) { ::munmap(q, n); });
  return BufferHandle::wrap(env, buf);
}
