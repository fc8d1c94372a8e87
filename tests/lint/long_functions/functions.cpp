// Input of tests/lint/long_functions_test.sh, never compiled into tokengrid: functions on either
// side of a limit of 20 lines, checked with scripts/long_functions.sh 20.
#include <functional>
#include <string>
#include <vector>

namespace fixture {
namespace {

int short_function(int a) { return a + 1; }

// 21 lines: one over the limit.
int long_function(int a) {
  int b = a;
  b += 1;
  b += 2;
  b += 3;
  b += 4;
  b += 5;
  b += 6;
  b += 7;
  b += 8;
  b += 9;
  b += 10;
  b += 11;
  b += 12;
  b += 13;
  b += 14;
  b += 15;
  b += 16;
  b += 17;
  return b;
}

// 20 lines: at the limit, not over it.
int exactly_the_limit(int a) {
  int b = a;
  b += 1;
  b += 2;
  b += 3;
  b += 4;
  b += 5;
  b += 6;
  b += 7;
  b += 8;
  b += 9;
  b += 10;
  b += 11;
  b += 12;
  b += 13;
  b += 14;
  b += 15;
  b += 16;
  return b;
}

}  // namespace

// 16 lines of its own; its lambdas and the braces in their strings are inside it, so it is not
// cut short at the first lambda's closing brace, nor are its lambdas listed on their own.
std::string lambdas_inside_a_short_function(const std::vector<int>& values) {
  auto open = [](int v) { return v > 0 ? std::string("{") : std::string("}}"); };
  std::function<std::string(int)> close = [&](int v) {
    const char* raw = R"x(}}} { ")" )x";
    return v < 0 ? std::string(raw) : std::string("'}'");
  };
  std::string out;
  for (int v : values) {
    out += open(v);
    out += close(v);
    out += [v] {
      return v == '}' ? "}" : "{";
    }();
  }
  return out;
}

// 25 lines, most of them in lambdas and a local class: all counted here, once.
int lambda_heavy(const std::vector<int>& values) {
  struct Counter {
    int seen = 0;
    void add(int v) {
      if (v > 0) {
        seen += v;
      }
    }
  };
  Counter counter;
  auto each = [&](const std::function<void(int)>& f) {
    for (int v : values) {
      f(v);
    }
  };
  each([&](int v) {
    counter.add(v);
  });
  each([&](int v) {
    if (v < 0) {
      counter.add(-v);
    }
  });
  return counter.seen;
}

// 22 lines: a lambda at namespace scope is a function of its own, named by its variable.
const auto long_handler = [](int a) {
  int b = a;
  b += 1;
  b += 2;
  b += 3;
  b += 4;
  b += 5;
  b += 6;
  b += 7;
  b += 8;
  b += 9;
  b += 10;
  b += 11;
  b += 12;
  b += 13;
  b += 14;
  b += 15;
  b += 16;
  b += 17;
  b += 18;
  return b;
};

}  // namespace fixture
