// PrefixIndex: which prompt prefixes each site has recently served, so that a prefix-affinity
// policy can send a conversation back to the site that holds its KV cache.
//
// A prompt is cut into blocks of kBlockBytes bytes; block i's hash chains the hashes of blocks
// 0..i, so equal hashes mean equal prefixes. A site remembers the last `capacity` block hashes
// it was sent (least recently used forgotten first). The hit of a prompt at a site is the
// length of its longest remembered prefix, in estimated tokens. Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tokengrid::gateway {

class PrefixIndex {
 public:
  static constexpr size_t kBlockBytes = 64;  // about 16 tokens of English text

  PrefixIndex(size_t sites, size_t capacity_per_site = 8192);

  // The chained hashes of the prompt's whole blocks.
  static std::vector<uint64_t> block_hashes(std::string_view prompt);
  // Estimated tokens of the longest remembered prefix of `hashes` at `site`.
  double hit_tokens(size_t site, const std::vector<uint64_t>& hashes) const;
  void remember(size_t site, const std::vector<uint64_t>& hashes);
  // Makes room for one more site (one that joined the grid).
  void add_site();

 private:
  struct SiteBlocks {
    std::list<uint64_t> order;  // most recent first
    std::unordered_map<uint64_t, std::list<uint64_t>::iterator> where;
  };
  size_t capacity_;
  mutable std::mutex mutex_;
  std::vector<SiteBlocks> sites_;
};

}  // namespace tokengrid::gateway
