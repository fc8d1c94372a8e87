#include "engine/grammar.h"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace tokengrid::engine {

GrammarExpr GrammarExpr::bytes(std::vector<std::pair<uint8_t, uint8_t>> ranges) {
  GrammarExpr e;
  e.kind = Kind::kBytes;
  e.ranges = std::move(ranges);
  return e;
}

GrammarExpr GrammarExpr::literal(std::string_view text) {
  std::vector<GrammarExpr> items;
  items.reserve(text.size());
  for (char c : text) items.push_back(byte(static_cast<uint8_t>(c)));
  return seq(std::move(items));
}

namespace {

// A sequence or alternation; of one item, that item itself.
GrammarExpr compound(GrammarExpr::Kind kind, std::vector<GrammarExpr> items) {
  if (items.size() == 1) return std::move(items[0]);
  GrammarExpr e;
  e.kind = kind;
  e.items = std::move(items);
  return e;
}

}  // namespace

GrammarExpr GrammarExpr::seq(std::vector<GrammarExpr> items) { return compound(Kind::kSeq, std::move(items)); }
GrammarExpr GrammarExpr::alt(std::vector<GrammarExpr> items) { return compound(Kind::kAlt, std::move(items)); }

GrammarExpr GrammarExpr::repeat(GrammarExpr item, int min, int max) {
  GrammarExpr e;
  e.kind = Kind::kRepeat;
  e.items.push_back(std::move(item));
  e.min = min;
  e.max = max;
  return e;
}

GrammarExpr GrammarExpr::call(int rule) {
  GrammarExpr e;
  e.kind = Kind::kRule;
  e.rule = rule;
  return e;
}

int GrammarBuilder::declare(std::string name) {
  names_.push_back(std::move(name));
  bodies_.emplace_back();
  defined_.push_back(false);
  return static_cast<int>(names_.size()) - 1;
}

void GrammarBuilder::define(int rule, GrammarExpr body) {
  bodies_[rule] = std::move(body);
  defined_[rule] = true;
}

int GrammarBuilder::add(std::string name, GrammarExpr body) {
  int id = declare(std::move(name));
  define(id, std::move(body));
  return id;
}

std::span<const std::pair<int32_t, int32_t>> Grammar::calls(int32_t pos) const {
  return {call_list_.data() + call_begin_[pos], call_begin_[pos + 1] - call_begin_[pos]};
}

namespace {

using ByteRange = std::pair<uint8_t, uint8_t>;

// The coarsest partition of the 256 bytes such that every range is a union of classes.
struct ByteClasses {
  uint8_t of[256] = {};
  int count = 1;
  std::map<ByteRange, int> range_ids;
  std::vector<std::vector<int>> classes_of_range;  // by range id

  void collect(const GrammarExpr& e) {
    if (e.kind == GrammarExpr::Kind::kBytes) {
      for (const ByteRange& r : e.ranges) range_ids.emplace(r, 0);
    }
    for (const GrammarExpr& item : e.items) collect(item);
  }

  void refine() {
    for (const auto& [range, unused] : range_ids) {
      std::map<std::pair<int, bool>, int> renumber;
      uint8_t next[256];
      for (int b = 0; b < 256; ++b) {
        bool inside = b >= range.first && b <= range.second;
        auto [it, fresh] = renumber.emplace(std::make_pair(of[b], inside), static_cast<int>(renumber.size()));
        next[b] = static_cast<uint8_t>(it->second);
      }
      std::copy(next, next + 256, of);
      count = static_cast<int>(renumber.size());
    }
    int id = 0;
    for (auto& [range, rid] : range_ids) {
      rid = id++;
      std::vector<int> classes;
      for (int b = range.first; b <= range.second; ++b) classes.push_back(of[b]);
      std::sort(classes.begin(), classes.end());
      classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
      classes_of_range.push_back(std::move(classes));
    }
  }
};

// Thompson construction of one rule body.
class Nfa {
 public:
  Nfa(const ByteClasses& classes, int max_states) : classes_(classes), max_states_(max_states) {}

  std::vector<std::vector<int>> eps;
  std::vector<std::vector<std::pair<int, int>>> byte_edges;  // (range id, target)
  std::vector<std::vector<std::pair<int, int>>> call_edges;  // (rule, target)
  bool overflow = false;

  int add_state() {
    if (static_cast<int>(eps.size()) >= max_states_) {
      overflow = true;
      return 0;
    }
    eps.emplace_back();
    byte_edges.emplace_back();
    call_edges.emplace_back();
    return static_cast<int>(eps.size()) - 1;
  }

  // Adds the states for `e` entered at `from`; returns the state where it ends.
  int build(const GrammarExpr& e, int from) {
    if (overflow) return 0;
    switch (e.kind) {
      case GrammarExpr::Kind::kBytes: {
        int to = add_state();
        for (const ByteRange& r : e.ranges) byte_edges[from].push_back({classes_.range_ids.at(r), to});
        return to;
      }
      case GrammarExpr::Kind::kSeq: {
        int at = from;
        for (const GrammarExpr& item : e.items) at = build(item, at);
        return at;
      }
      case GrammarExpr::Kind::kAlt: {
        int end = add_state();
        for (const GrammarExpr& item : e.items) {
          int branch = add_state();
          eps[from].push_back(branch);
          eps[build(item, branch)].push_back(end);
        }
        return end;
      }
      case GrammarExpr::Kind::kRepeat: return build_repeat(e, from);
      case GrammarExpr::Kind::kRule: {
        int to = add_state();
        call_edges[from].push_back({e.rule, to});
        return to;
      }
    }
    return from;
  }

 private:
  int build_fresh(const GrammarExpr& e, int from) {
    int s = add_state();
    eps[from].push_back(s);
    return build(e, s);
  }

  int build_repeat(const GrammarExpr& e, int from) {
    const GrammarExpr& item = e.items[0];
    int at = from;
    for (int i = 0; i < e.min && !overflow; ++i) at = build_fresh(item, at);
    if (e.max < 0) {
      int loop = add_state();
      eps[at].push_back(loop);
      eps[build(item, loop)].push_back(loop);
      return loop;
    }
    int end = add_state();
    for (int i = e.min; i < e.max && !overflow; ++i) {
      eps[at].push_back(end);
      at = build_fresh(item, at);
    }
    eps[at].push_back(end);
    return end;
  }

  const ByteClasses& classes_;
  int max_states_;
};

// Steps spent compiling, against GrammarLimits::max_work; once spent, every stage stops early
// and build() refuses the grammar.
class WorkBudget {
 public:
  explicit WorkBudget(int64_t steps) : left_(steps) {}
  // False once the budget is spent.
  bool spend(int64_t steps) {
    left_ -= steps;
    return left_ >= 0;
  }
  bool spent() const { return left_ < 0; }

 private:
  int64_t left_;
};

struct VectorHash {
  size_t operator()(const std::vector<int>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (int x : v) h = (h ^ static_cast<uint32_t>(x)) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

// A rule's deterministic automaton, states numbered from 0 (the start).
struct RuleDfa {
  std::vector<int32_t> next;  // [state * classes + class]
  std::vector<std::vector<std::pair<int32_t, int32_t>>> calls;  // (rule, state)
  std::vector<uint8_t> accepting;
  int size() const { return static_cast<int>(accepting.size()); }
};

class SubsetConstruction {
 public:
  SubsetConstruction(const Nfa& nfa, int final_state, int num_classes, const ByteClasses& bc, WorkBudget& budget)
      : nfa_(nfa), final_(final_state), classes_(num_classes), bc_(bc), budget_(budget) {}

  // False when the automaton would exceed `max_states` or the budget.
  bool run(int start, int max_states, RuleDfa& out) {
    id_of(closure({start}), out);
    std::vector<std::vector<int>> by_class(classes_);
    std::map<int32_t, std::vector<int>> by_rule;
    for (size_t d = 0; d < sets_.size(); ++d) {
      if (static_cast<int>(sets_.size()) > max_states) return false;
      if (!budget_.spend(classes_ + static_cast<int64_t>(sets_[d].size()))) return false;
      for (auto& v : by_class) v.clear();
      by_rule.clear();
      for (int s : sets_[d]) {
        for (const auto& [range, to] : nfa_.byte_edges[s]) {
          for (int c : bc_.classes_of_range[range]) by_class[c].push_back(to);
        }
        for (const auto& [rule, to] : nfa_.call_edges[s]) by_rule[rule].push_back(to);
      }
      for (int c = 0; c < classes_; ++c) {
        if (by_class[c].empty()) continue;
        int32_t to = id_of(closure(std::move(by_class[c])), out);
        out.next[d * classes_ + c] = to;
      }
      for (auto& [rule, targets] : by_rule) {
        int32_t to = id_of(closure(std::move(targets)), out);
        out.calls[d].push_back({rule, to});
      }
    }
    return static_cast<int>(sets_.size()) <= max_states && !budget_.spent();
  }

 private:
  std::vector<int> closure(std::vector<int> seeds) {
    std::vector<int> out;
    while (!seeds.empty()) {
      int s = seeds.back();
      seeds.pop_back();
      budget_.spend(1 + static_cast<int64_t>(out.size()));
      if (std::find(out.begin(), out.end(), s) != out.end()) continue;
      out.push_back(s);
      for (int t : nfa_.eps[s]) seeds.push_back(t);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  int32_t id_of(std::vector<int> set, RuleDfa& out) {
    auto [it, fresh] = ids_.emplace(set, static_cast<int32_t>(sets_.size()));
    if (fresh) {
      out.accepting.push_back(std::binary_search(set.begin(), set.end(), final_) ? 1 : 0);
      out.next.resize(out.next.size() + classes_, Grammar::kNone);
      out.calls.emplace_back();
      sets_.push_back(std::move(set));
    }
    return it->second;
  }

  const Nfa& nfa_;
  int final_;
  int classes_;
  const ByteClasses& bc_;
  WorkBudget& budget_;
  std::vector<std::vector<int>> sets_;
  std::unordered_map<std::vector<int>, int32_t, VectorHash> ids_;
};

// States of each rule from which an accepting state is reachable, calling only productive
// rules (those whose start is such a state), computed to a fixpoint; stops early once the
// budget is spent.
std::vector<std::vector<bool>> live_states(const std::vector<RuleDfa>& dfas, int classes, WorkBudget& budget) {
  const size_t n_rules = dfas.size();
  std::vector<bool> productive(n_rules, false);
  std::vector<std::vector<bool>> live(n_rules);
  bool changed = true;
  while (changed && !budget.spent()) {
    changed = false;
    for (size_t r = 0; r < n_rules; ++r) {
      const RuleDfa& d = dfas[r];
      std::vector<bool>& alive = live[r];
      alive.assign(d.size(), false);
      for (int s = 0; s < d.size(); ++s) alive[s] = d.accepting[s] != 0;
      // States are numbered breadth-first from the start, so edges mostly lead to higher
      // numbers: a pass from the last state back settles a chain at once.
      bool grew = true;
      while (grew && budget.spend(d.size())) {
        grew = false;
        for (int s = d.size() - 1; s >= 0; --s) {
          if (alive[s] || !budget.spend(classes + static_cast<int64_t>(d.calls[s].size()))) continue;
          bool reaches = false;
          for (int c = 0; c < classes && !reaches; ++c) {
            int32_t t = d.next[s * classes + c];
            reaches = t >= 0 && alive[t];
          }
          for (const auto& [rule, t] : d.calls[s]) reaches = reaches || (productive[rule] && alive[t]);
          if (reaches) alive[s] = grew = true;
        }
      }
      if (!productive[r] && alive[0]) productive[r] = changed = true;
    }
  }
  return live;
}

// The smallest automaton for the same rule (Moore's partition refinement) over the states
// reachable from the start through live states only; calls of unproductive rules dropped.
// Stops early, with a partition too coarse, once the budget is spent.
RuleDfa minimize(const RuleDfa& d, const std::vector<bool>& alive, const std::vector<std::vector<bool>>& live,
                 int classes, WorkBudget& budget) {
  auto edge_ok = [&](int32_t t) { return t >= 0 && alive[t]; };
  std::vector<int32_t> order = {0};  // reachable live states
  std::vector<int32_t> index(d.size(), -1);
  index[0] = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const int32_t s = order[i];
    auto visit = [&](int32_t t) {
      if (edge_ok(t) && index[t] < 0) {
        index[t] = static_cast<int32_t>(order.size());
        order.push_back(t);
      }
    };
    for (int c = 0; c < classes; ++c) visit(d.next[s * classes + c]);
    for (const auto& [rule, t] : d.calls[s]) {
      if (live[rule][0]) visit(t);
    }
  }
  const int32_t n = static_cast<int32_t>(order.size());
  std::vector<int32_t> block(n, 0), next_block(n);
  int32_t blocks = 1;
  std::vector<int32_t> signature;
  while (budget.spend(static_cast<int64_t>(n) * (classes + 2))) {
    std::map<std::vector<int32_t>, int32_t> ids;
    for (int32_t i = 0; i < n; ++i) {
      const int32_t s = order[i];
      signature.assign({block[i], d.accepting[s]});
      for (int c = 0; c < classes; ++c) {
        const int32_t t = d.next[s * classes + c];
        signature.push_back(edge_ok(t) ? block[index[t]] : -1);
      }
      for (const auto& [rule, t] : d.calls[s]) {
        if (!live[rule][0] || !edge_ok(t)) continue;
        signature.push_back(rule);
        signature.push_back(block[index[t]]);
      }
      next_block[i] = ids.emplace(signature, static_cast<int32_t>(ids.size())).first->second;
    }
    const int32_t count = static_cast<int32_t>(ids.size());
    block.swap(next_block);
    if (count == blocks) break;
    blocks = count;
  }
  // Number the blocks so that the start's block is 0.
  std::vector<int32_t> renumber(blocks, -1);
  int32_t next_id = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (renumber[block[i]] < 0) renumber[block[i]] = next_id++;
  }
  RuleDfa out;
  out.next.assign(static_cast<size_t>(blocks) * classes, Grammar::kNone);
  out.calls.assign(blocks, {});
  out.accepting.assign(blocks, 0);
  std::vector<bool> done(blocks, false);
  for (int32_t i = 0; i < n; ++i) {
    const int32_t b = renumber[block[i]];
    if (done[b]) continue;
    done[b] = true;
    const int32_t s = order[i];
    out.accepting[b] = d.accepting[s];
    for (int c = 0; c < classes; ++c) {
      const int32_t t = d.next[s * classes + c];
      if (edge_ok(t)) out.next[static_cast<size_t>(b) * classes + c] = renumber[block[index[t]]];
    }
    for (const auto& [rule, t] : d.calls[s]) {
      if (live[rule][0] && edge_ok(t)) out.calls[b].push_back({rule, renumber[block[index[t]]]});
    }
  }
  return out;
}

}  // namespace

Status Grammar::analyse_calls() {
  const int n_rules = static_cast<int>(start_.size());
  // Positions reachable from `pos` without a byte: through calls of rules that can be empty.
  std::vector<bool> nullable(n_rules, false);
  auto empty_reach = [&](int32_t pos) {
    std::vector<int32_t> seen = {pos};
    for (size_t i = 0; i < seen.size(); ++i) {
      for (const auto& [rule, ret] : calls(seen[i])) {
        if (nullable[rule] && std::find(seen.begin(), seen.end(), ret) == seen.end()) seen.push_back(ret);
      }
    }
    return seen;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (int r = 0; r < n_rules; ++r) {
      if (nullable[r]) continue;
      for (int32_t p : empty_reach(start_[r])) nullable[r] = nullable[r] || accepting(p);
      changed = changed || nullable[r];
    }
  }
  // Rules that each rule can enter before its first byte; a cycle is left recursion.
  std::vector<std::vector<int32_t>> first_calls(n_rules);
  for (int r = 0; r < n_rules; ++r) {
    for (int32_t p : empty_reach(start_[r])) {
      for (const auto& [rule, ret] : calls(p)) first_calls[r].push_back(rule);
    }
  }
  std::vector<int> depth(n_rules, -1);  // -2 while being explored
  std::vector<std::pair<int32_t, size_t>> stack;
  for (int r0 = 0; r0 < n_rules; ++r0) {
    if (depth[r0] != -1) continue;
    stack.push_back({r0, 0});
    depth[r0] = -2;
    while (!stack.empty()) {
      auto& [r, i] = stack.back();
      if (i < first_calls[r].size()) {
        int32_t callee = first_calls[r][i++];
        if (depth[callee] == -2) {
          return invalid_argument("grammar rule '" + names_[callee] +
                                  "' can call itself before consuming any byte (left recursion)");
        }
        if (depth[callee] == -1) {
          depth[callee] = -2;
          stack.push_back({callee, 0});
        }
        continue;
      }
      int d = 0;
      for (int32_t callee : first_calls[r]) d = std::max(d, depth[callee] + 1);
      depth[r] = d;
      stack.pop_back();
    }
  }
  max_calls_per_byte_ = 1 + *std::max_element(depth.begin(), depth.end());
  return Status::ok();
}

Result<std::shared_ptr<const Grammar>> GrammarBuilder::build(int root, GrammarLimits limits) const {
  const int n_rules = num_rules();
  if (root < 0 || root >= n_rules) return invalid_argument("the grammar's root rule does not exist");
  for (int r = 0; r < n_rules; ++r) {
    if (!defined_[r]) return invalid_argument("grammar rule '" + names_[r] + "' is declared but never defined");
  }
  ByteClasses bc;
  for (const GrammarExpr& body : bodies_) bc.collect(body);
  bc.refine();

  WorkBudget budget(limits.max_work);
  const Status too_much_work = resource_exhausted(
      "the grammar is too large to compile (more than " + std::to_string(limits.max_work) +
      " steps): lower its minLength, maxLength, minItems or maxItems, or simplify the schema or pattern");
  std::vector<RuleDfa> dfas(n_rules);
  int total_states = 0;
  for (int r = 0; r < n_rules; ++r) {
    Nfa nfa(bc, limits.max_states);
    int start = nfa.add_state();
    int final_state = nfa.build(bodies_[r], start);
    SubsetConstruction subsets(nfa, final_state, bc.count, bc, budget);
    if (nfa.overflow || !subsets.run(start, limits.max_states - total_states, dfas[r])) {
      if (budget.spent()) return too_much_work;
      return resource_exhausted("the grammar is too large to compile (more than " +
                                std::to_string(limits.max_states) +
                                " automaton states): simplify the schema or pattern");
    }
    total_states += dfas[r].size();
  }

  std::vector<std::vector<bool>> live = live_states(dfas, bc.count, budget);
  if (budget.spent()) return too_much_work;
  if (!live[root][0]) return invalid_argument("the grammar matches no output at all");
  for (int r = 0; r < n_rules && !budget.spent(); ++r) {
    if (live[r][0]) dfas[r] = minimize(dfas[r], live[r], live, bc.count, budget);
  }
  if (budget.spent()) return too_much_work;

  auto g = std::shared_ptr<Grammar>(new Grammar());
  g->num_classes_ = bc.count;
  std::copy(bc.of, bc.of + 256, g->byte_class_);
  g->root_ = root;
  g->limits_ = limits;
  g->names_ = names_;
  std::vector<int32_t> base(n_rules + 1, 0);
  for (int r = 0; r < n_rules; ++r) base[r + 1] = base[r] + dfas[r].size();
  const int32_t n_pos = base[n_rules];
  const int classes = bc.count;
  g->next_.assign(static_cast<size_t>(n_pos) * classes, Grammar::kNone);
  g->accepting_.assign(n_pos, 0);
  g->leaf_.assign(n_pos, 0);
  g->rule_of_.assign(n_pos, 0);
  g->start_ = std::vector<int32_t>(base.begin(), base.end() - 1);
  g->call_begin_.assign(n_pos + 1, 0);
  for (int r = 0; r < n_rules; ++r) {
    const RuleDfa& d = dfas[r];
    for (int s = 0; s < d.size(); ++s) {
      const int32_t pos = base[r] + s;
      g->rule_of_[pos] = r;
      g->accepting_[pos] = d.accepting[s];
      bool outgoing = false;
      if (live[r][0]) {  // an unproductive rule keeps its states, unreachable and inert
        for (int c = 0; c < classes; ++c) {
          const int32_t t = d.next[s * classes + c];
          if (t < 0) continue;
          g->next_[static_cast<size_t>(pos) * classes + c] = base[r] + t;
          outgoing = true;
        }
        for (const auto& [rule, t] : d.calls[s]) {
          g->call_list_.push_back({rule, base[r] + t});
          outgoing = true;
        }
      }
      g->call_begin_[pos + 1] = static_cast<uint32_t>(g->call_list_.size());
      g->leaf_[pos] = d.accepting[s] && !outgoing;
    }
  }

  g->return_sites_.assign(n_rules, {});
  for (const auto& [rule, ret] : g->call_list_) {
    auto& sites = g->return_sites_[rule];
    if (std::find(sites.begin(), sites.end(), ret) == sites.end()) sites.push_back(ret);
  }
  TG_RETURN_IF_ERROR(g->analyse_calls());
  return std::shared_ptr<const Grammar>(std::move(g));
}

}  // namespace tokengrid::engine
