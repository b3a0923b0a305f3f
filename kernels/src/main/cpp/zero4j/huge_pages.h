// madvise(MADV_HUGEPAGE) for host buffers, called through JNI from org.zero4j.kernels.host.
#pragma once

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

namespace zero4j {

// Asks the kernel to back [address, address + length) with transparent huge pages. Returns 0, or
// the errno of a refusal (EINVAL where the kernel has no THP).
inline int advise_huge_pages(int64_t address, int64_t length) {
  if (madvise(reinterpret_cast<void*>(address), static_cast<size_t>(length), MADV_HUGEPAGE) != 0) {
    return errno;
  }
  return 0;
}

}  // namespace zero4j
