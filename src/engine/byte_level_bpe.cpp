#include "engine/byte_level_bpe.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "engine/byte_level.h"

namespace tokengrid::engine {
namespace {

constexpr uint64_t kEmpty = ~uint64_t{0};

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

void ByteLevelBpe::MergeTable::reserve(size_t n) {
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, n + n / 2));
  shift_ = 64 - std::countr_zero(capacity);
  keys_.assign(capacity, kEmpty);
  values_.assign(capacity, Merge{});
}

bool ByteLevelBpe::MergeTable::insert(int32_t left, int32_t right, Merge merge) {
  const uint64_t k = key(left, right);
  const size_t mask = keys_.size() - 1;
  for (size_t i = slot(k);; i = (i + 1) & mask) {
    if (keys_[i] == k) return false;
    if (keys_[i] == kEmpty) {
      keys_[i] = k;
      values_[i] = merge;
      return true;
    }
  }
}

const ByteLevelBpe::Merge* ByteLevelBpe::MergeTable::find(int32_t left, int32_t right) const {
  const uint64_t k = key(left, right);
  const size_t mask = keys_.size() - 1;
  for (size_t i = slot(k);; i = (i + 1) & mask) {
    if (keys_[i] == k) return &values_[i];
    if (keys_[i] == kEmpty) return nullptr;
  }
}

Result<ByteLevelBpe> ByteLevelBpe::create(const std::vector<std::string>& tokens, const std::vector<bool>& mergeable,
                                          const std::vector<std::string>& merges, PreTokenizerSpec pre,
                                          int32_t unk_id) {
  std::unordered_map<std::string_view, int32_t> id_of;
  id_of.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!mergeable[i] || tokens[i].empty()) continue;
    auto [it, inserted] = id_of.try_emplace(tokens[i], static_cast<int32_t>(i));
    if (!inserted) {
      return invalid_argument("tokens " + std::to_string(it->second) + " and " + std::to_string(i) +
                              " are both " + quoted(tokens[i]) + "; each token of a BPE vocabulary must be distinct");
    }
  }

  ByteLevelBpe bpe;
  bpe.pre_ = pre;
  bpe.unk_id_ = unk_id;
  for (int b = 0; b < 256; ++b) {
    auto it = id_of.find(byte_level_char(static_cast<uint8_t>(b)));
    bpe.byte_token_[b] = it == id_of.end() ? -1 : it->second;
  }
  if (pre.ignore_merges) {
    for (const auto& [spelled, id] : id_of) {
      if (auto raw = byte_level_decode(spelled)) bpe.whole_pieces_.emplace(std::move(*raw), id);
    }
  }

  bpe.merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& m = merges[rank];
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos || space + 1 >= m.size()) {
      return invalid_argument("merge " + std::to_string(rank) + " is " + quoted(m) + ", not two tokens separated by a space");
    }
    const std::string_view left(m.data(), space), right(m.data() + space + 1, m.size() - space - 1);
    const std::string joined = std::string(left) + std::string(right);
    int32_t ids[3];
    const std::string_view parts[3] = {left, right, joined};
    for (int p = 0; p < 3; ++p) {
      auto it = id_of.find(parts[p]);
      if (it == id_of.end()) {
        return invalid_argument("merge " + std::to_string(rank) + " (" + quoted(m) + ") " +
                                (p < 2 ? "names " : "makes ") + quoted(parts[p]) +
                                ", which is not a normal token of the vocabulary");
      }
      ids[p] = it->second;
    }
    if (bpe.merges_.insert(ids[0], ids[1], {static_cast<int32_t>(rank), ids[2]})) ++bpe.merge_count_;
  }
  return bpe;
}

struct ByteLevelBpe::Scratch {
  struct Symbol {
    int32_t id;  // -1 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    int32_t rank;
    int32_t left;
    int32_t right;
    int32_t left_id;
    int32_t right_id;
    int32_t result;
  };
  std::vector<std::string_view> pieces;
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::vector<int32_t> ids;
  std::vector<Merge> pairs;  // pairs[i]: the merge of ids[i] and ids[i + 1]; rank kNoMerge if none
};

namespace {
constexpr int32_t kNoMerge = std::numeric_limits<int32_t>::max();
}  // namespace

void ByteLevelBpe::append(int32_t id, std::vector<int32_t>& out) const {
  if (id >= 0) {
    out.push_back(id);
  } else if (unk_id_ >= 0) {
    out.push_back(unk_id_);
  }
}

void ByteLevelBpe::encode_piece(std::string_view piece, Scratch& s, std::vector<int32_t>& out) const {
  if (pre_.ignore_merges) {
    if (auto it = whole_pieces_.find(piece); it != whole_pieces_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (piece.size() == 1) {
    append(byte_token_[static_cast<uint8_t>(piece[0])], out);
  } else if (piece.size() <= kShortPiece) {
    merge_short(piece, s, out);
  } else {
    merge_long(piece, s, out);
  }
}

void ByteLevelBpe::merge_short(std::string_view piece, Scratch& s, std::vector<int32_t>& out) const {
  std::vector<int32_t>& ids = s.ids;
  std::vector<Merge>& pairs = s.pairs;
  ids.clear();
  for (char c : piece) ids.push_back(byte_token_[static_cast<uint8_t>(c)]);
  auto pair_at = [&](size_t i) {
    const Merge* m = ids[i] < 0 || ids[i + 1] < 0 ? nullptr : merges_.find(ids[i], ids[i + 1]);
    return m != nullptr ? *m : Merge{kNoMerge, -1};
  };
  pairs.clear();
  for (size_t i = 0; i + 1 < ids.size(); ++i) pairs.push_back(pair_at(i));
  while (!pairs.empty()) {
    size_t best = 0;  // the leftmost pair of lowest rank
    for (size_t i = 1; i < pairs.size(); ++i) {
      if (pairs[i].rank < pairs[best].rank) best = i;
    }
    if (pairs[best].rank == kNoMerge) break;
    ids[best] = pairs[best].result;
    ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    pairs.erase(pairs.begin() + static_cast<std::ptrdiff_t>(best));
    if (best > 0) pairs[best - 1] = pair_at(best - 1);
    if (best < pairs.size()) pairs[best] = pair_at(best);
  }
  for (int32_t id : ids) append(id, out);
}

void ByteLevelBpe::merge_long(std::string_view piece, Scratch& s, std::vector<int32_t>& out) const {
  const auto n = static_cast<int32_t>(piece.size());
  s.symbols.clear();
  for (int32_t i = 0; i < n; ++i) {
    s.symbols.push_back({byte_token_[static_cast<uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1});
  }
  // Lowest rank first; among equal ranks the leftmost pair.
  auto later = [](const Scratch::Candidate& a, const Scratch::Candidate& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  s.heap.clear();
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t a = s.symbols[left].id, b = s.symbols[right].id;
    if (a < 0 || b < 0) return;
    if (const Merge* m = merges_.find(a, b)) {
      s.heap.push_back({m->rank, left, right, a, b, m->result});
      std::push_heap(s.heap.begin(), s.heap.end(), later);
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i, i + 1);

  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), later);
    const Scratch::Candidate c = s.heap.back();
    s.heap.pop_back();
    Scratch::Symbol& left = s.symbols[c.left];
    if (left.id != c.left_id || left.next != c.right || s.symbols[c.right].id != c.right_id) continue;
    left.id = c.result;
    left.next = s.symbols[c.right].next;
    s.symbols[c.right].id = -1;
    s.symbols[c.right].next = -1;
    if (left.next >= 0) s.symbols[left.next].prev = c.left;
    consider(left.prev, c.left);
    consider(c.left, left.next);
  }

  for (int32_t i = 0; i >= 0 && i < n; i = s.symbols[i].next) append(s.symbols[i].id, out);
}

void ByteLevelBpe::encode(std::string_view text, std::vector<int32_t>& out) const {
  thread_local Scratch scratch;
  scratch.pieces.clear();
  pre_tokenize(pre_.split, text, scratch.pieces);
  for (std::string_view piece : scratch.pieces) encode_piece(piece, scratch, out);
}

}  // namespace tokengrid::engine
