#include "gateway/prefix_index.h"

namespace tokengrid::gateway {
namespace {

// Bytes per token assumed when turning a prefix length into tokens.
constexpr double kBytesPerToken = 4.0;

uint64_t fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

PrefixIndex::PrefixIndex(size_t sites, size_t capacity_per_site) : capacity_(capacity_per_site), sites_(sites) {}

std::vector<uint64_t> PrefixIndex::block_hashes(std::string_view prompt) {
  std::vector<uint64_t> hashes;
  uint64_t h = 1469598103934665603ull;
  for (size_t at = 0; at + kBlockBytes <= prompt.size(); at += kBlockBytes) {
    h = fnv1a(h, prompt.substr(at, kBlockBytes));
    hashes.push_back(h);
  }
  return hashes;
}

double PrefixIndex::hit_tokens(size_t site, const std::vector<uint64_t>& hashes) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const SiteBlocks& blocks = sites_[site];
  size_t matched = 0;
  while (matched < hashes.size() && blocks.where.count(hashes[matched])) ++matched;
  return static_cast<double>(matched * kBlockBytes) / kBytesPerToken;
}

void PrefixIndex::add_site() {
  std::lock_guard<std::mutex> lock(mutex_);
  sites_.emplace_back();
}

void PrefixIndex::remember(size_t site, const std::vector<uint64_t>& hashes) {
  std::lock_guard<std::mutex> lock(mutex_);
  SiteBlocks& blocks = sites_[site];
  for (uint64_t h : hashes) {
    auto it = blocks.where.find(h);
    if (it != blocks.where.end()) blocks.order.erase(it->second);
    blocks.order.push_front(h);
    blocks.where[h] = blocks.order.begin();
  }
  while (blocks.order.size() > capacity_) {
    blocks.where.erase(blocks.order.back());
    blocks.order.pop_back();
  }
}

}  // namespace tokengrid::gateway
