#include "core/progress.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace tokengrid {
namespace {

TEST(Progress, RendersBarPercentCountAndTimeLeft) {
  EXPECT_EQ(Progress::render("sim", 0, 10, 0), "sim [                              ]   0%  0/10");
  EXPECT_EQ(Progress::render("sim", 5, 10, 4), "sim [###############               ]  50%  5/10  4 s left");
  EXPECT_EQ(Progress::render("sim", 10, 10, 9), "sim [##############################] 100%  10/10");
  EXPECT_EQ(Progress::render("q", 1, 50, 60), "q [                              ]   2%  1/50  49 min left");
}

TEST(Progress, RendersANoteAfterTheFigures) {
  EXPECT_EQ(Progress::render("batch b1", 2, 10, 2, "in_progress"),
            "batch b1 [######                        ]  20%  2/10  8 s left  in_progress");
  EXPECT_EQ(Progress::render("batch b1", 0, 0, 0, "validating"), "batch b1 [                              ]   0%  0/1  validating");
}

TEST(Progress, ClampsOutOfRangeCounts) {
  EXPECT_EQ(Progress::render("x", -3, 4, 1), Progress::render("x", 0, 4, 1));
  EXPECT_EQ(Progress::render("x", 9, 4, 1), Progress::render("x", 4, 4, 1));
  EXPECT_EQ(Progress::render("x", 0, 0, 0), "x [                              ]   0%  0/1");
}

// Test output is never a terminal: nothing is drawn, and workers may advance it at once.
TEST(Progress, DrawsNothingOffATerminalAndIsThreadSafe) {
  Progress p("job", 4000);
  EXPECT_FALSE(p.drawing());
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) p.advance();
    });
  for (auto& w : workers) w.join();
  Progress disabled("quiet", 1, false);
  EXPECT_FALSE(disabled.drawing());
}

}  // namespace
}  // namespace tokengrid
