#include "engine/stop_matcher.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/utf8.h"

namespace tokengrid::engine {
namespace {

struct Outcome {
  std::string text;
  bool stopped = false;
  std::string stop;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{text='" << o.text << "' stopped=" << o.stopped << " stop='" << o.stop << "'}";
}

// Streams the pieces through a matcher and collects everything it lets out.
Outcome stream(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopMatcher m(stops);
  Outcome o;
  auto take = [&](StopMatcher::Step step) {
    o.text += step.text;
    if (step.stopped) {
      o.stopped = true;
      o.stop = step.stop;
    }
  };
  for (const std::string& piece : pieces) take(m.push(piece));
  take(m.finish());
  return o;
}

// The definition: cut at the earliest start of any stop string, the shortest on a tie.
Outcome reference(const std::vector<std::string>& stops, const std::string& text) {
  Outcome o{text, false, ""};
  size_t best = std::string::npos;
  for (const std::string& s : stops) {
    if (s.empty()) continue;
    const size_t at = text.find(s);
    if (at == std::string::npos) continue;
    if (at < best || (at == best && s.size() < o.stop.size())) {
      best = at;
      o = {text.substr(0, at), true, s};
    }
  }
  return o;
}

TEST(StopMatcher, NoStopStringsPassesEverythingAtOnce) {
  StopMatcher m({});
  EXPECT_EQ(m.push("hello").text, "hello");
  EXPECT_EQ(m.held_bytes(), 0u);
  EXPECT_EQ(m.finish().text, "");
}

TEST(StopMatcher, StopInsideOnePiece) {
  EXPECT_EQ(stream({"END"}, {"abcENDdef"}), (Outcome{"abc", true, "END"}));
}

TEST(StopMatcher, StopSplitAcrossPiecesIsHeldBackThenDropped) {
  StopMatcher m({"\n\n"});
  EXPECT_EQ(m.push("Hello\n").text, "Hello");
  EXPECT_EQ(m.held_bytes(), 1u);
  const auto step = m.push("\nWorld");
  EXPECT_EQ(step.text, "");
  EXPECT_TRUE(step.stopped);
  EXPECT_EQ(step.stop, "\n\n");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.push("more").text, "");  // nothing after the stop string
}

TEST(StopMatcher, FalseStartIsReleased) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("a ST").text, "a ");
  EXPECT_EQ(m.push("O").text, "");
  EXPECT_EQ(m.push("P?").text, "");
  EXPECT_TRUE(m.stopped());
  StopMatcher n({"STOP"});
  EXPECT_EQ(n.push("a ST").text, "a ");
  EXPECT_EQ(n.push("OAT").text, "STOAT");
  const auto last = n.push("ST");
  EXPECT_EQ(last.text, "");
  EXPECT_EQ(n.finish().text, "ST");  // generation ended: the held text was never a stop
  EXPECT_FALSE(n.stopped());
}

TEST(StopMatcher, OverlappingPrefixes) {
  // "aab": the first "a" starts a false match, the second starts the real one.
  EXPECT_EQ(stream({"ab"}, {"xa", "a", "b", "y"}), (Outcome{"xa", true, "ab"}));
  EXPECT_EQ(stream({"abab"}, {"aba", "bab"}), (Outcome{"", true, "abab"}));
  EXPECT_EQ(stream({"abac"}, {"ab", "ab", "ac"}), (Outcome{"ab", true, "abac"}));
}

TEST(StopMatcher, EarliestStartWinsEvenWhenALaterStopCompletesFirst) {
  // "b" completes while "abc" (which starts earlier) is still open: wait for it.
  StopMatcher m({"abc", "b"});
  EXPECT_EQ(m.push("xab").text, "x");
  const auto step = m.push("c");
  EXPECT_TRUE(step.stopped);
  EXPECT_EQ(step.stop, "abc");
  EXPECT_EQ(step.text, "");
  // And when "abc" does not come, "b" still cuts, at its own position.
  EXPECT_EQ(stream({"abc", "b"}, {"xab", "d"}), (Outcome{"xa", true, "b"}));
  EXPECT_EQ(stream({"abc", "b"}, {"xab"}), (Outcome{"xa", true, "b"}));
}

TEST(StopMatcher, MultipleStopStrings) {
  EXPECT_EQ(stream({"cat", "dog", "\n"}, {"my d", "og and cat"}), (Outcome{"my ", true, "dog"}));
  EXPECT_EQ(stream({"ab", "a"}, {"xa", "b"}), (Outcome{"x", true, "a"}));
}

TEST(StopMatcher, Utf8StopStringsAndHeldTextStayWhole) {
  // Pieces are whole characters, as the stream decoder produces them.
  EXPECT_EQ(stream({"\xC3\xA9!"}, {"caf", "\xC3\xA9", "!", "x"}), (Outcome{"caf", true, "\xC3\xA9!"}));
  StopMatcher m({"\xE2\x82\xAC" "uro"});
  EXPECT_EQ(m.push("5 \xE2\x82\xAC").text, "5 ");
  EXPECT_EQ(m.push("\xE2\x82\xAC").text, "\xE2\x82\xAC");
  EXPECT_EQ(m.push("!").text, "\xE2\x82\xAC!");
}

TEST(StopMatcher, EmptyStopStringsAreIgnored) {
  EXPECT_EQ(stream({"", "z"}, {"abc"}), (Outcome{"abc", false, ""}));
}

TEST(StopMatcher, AnyCuttingGivesTheSameResultAsTheWholeText) {
  std::mt19937 rng(5);
  const std::vector<std::string> alphabet = {"a", "b", "c", "\xC3\xA9", "\xE4\xB8\xAD"};
  auto random_string = [&](size_t max_chars) {
    std::string s;
    for (size_t n = 1 + rng() % max_chars; n > 0; --n) s += alphabet[rng() % alphabet.size()];
    return s;
  };
  for (int round = 0; round < 3000; ++round) {
    std::vector<std::string> stops;
    for (size_t n = 1 + rng() % 3; n > 0; --n) stops.push_back(random_string(4));
    std::vector<std::string> pieces;
    std::string text;
    for (size_t n = rng() % 8; n > 0; --n) {
      pieces.push_back(random_string(3));
      text += pieces.back();
    }
    const Outcome streamed = stream(stops, pieces);
    ASSERT_EQ(streamed, reference(stops, text)) << "text '" << text << "' first stop '" << stops[0] << "'";
    ASSERT_EQ(sanitize_utf8(streamed.text), streamed.text);
  }
}

}  // namespace
}  // namespace tokengrid::engine
