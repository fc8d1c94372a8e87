#include "engine/huge_pages.h"

#include <cstdlib>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace tokengrid::engine {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;
// Below this, a huge page would waste more than it saves.
constexpr size_t kMinimum = size_t{1} << 20;

size_t rounded(size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }

}  // namespace

void* allocate_huge_pages(size_t bytes) {
  if (bytes < kMinimum) return ::operator new(bytes);
  void* p = std::aligned_alloc(kHugePage, rounded(bytes));
  if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(p, rounded(bytes), MADV_HUGEPAGE);  // advice only: failure leaves ordinary pages
#endif
  return p;
}

void free_huge_pages(void* p, size_t bytes) {
  if (bytes < kMinimum) {
    ::operator delete(p);
  } else {
    std::free(p);
  }
}

}  // namespace tokengrid::engine
