// Where tests find data from outside the repository: the real models, traces and grid signals
// in ../shared/data beside it (TOKENGRID_SHARED_DATA, set by CMake for every test binary; an
// environment variable of the same name overrides it, so a run can see what a checkout without
// the data sees). Only tests that compare with those real files use them; each skips through
// TOKENGRID_SKIP_WITHOUT_SHARED_DATA with one message, which scripts/test.sh counts.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace tokengrid::test_data {

inline std::string shared_data_dir() {
  const char* env = std::getenv("TOKENGRID_SHARED_DATA");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(TOKENGRID_SHARED_DATA);
}

// The path of `relative` (e.g. "models/stories260k-f32.gguf") in the shared data.
inline std::string shared_data(const std::string& relative) { return shared_data_dir() + "/" + relative; }

inline bool has_shared_data(const std::string& relative) { return std::filesystem::exists(shared_data(relative)); }

}  // namespace tokengrid::test_data

// Ends the current test as skipped when the shared data lacks `relative`.
#define TOKENGRID_SKIP_WITHOUT_SHARED_DATA(relative)                                       \
  if (!::tokengrid::test_data::has_shared_data(relative))                                    \
  GTEST_SKIP() << "needs the real data in ../shared/data, absent here: "                    \
               << ::tokengrid::test_data::shared_data(relative)
