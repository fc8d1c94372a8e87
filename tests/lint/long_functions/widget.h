// Input of tests/lint/long_functions_test.sh: a header's inline member function and a test case.
#pragma once

#define TEST(suite, name) void suite##_##name()

namespace fixture {

class Widget {
 public:
  // 21 lines.
  int draw(int a) const {
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
  int size() const { return 1; }
};

// 21 lines.
TEST(WidgetTest, DrawsEveryLine) {
  Widget widget;
  int b = widget.draw(0);
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
  (void)b;
}

}  // namespace fixture
