#include "core/shutdown_signals.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <thread>

namespace tokengrid {
namespace {

TEST(ShutdownSignals, ATerminateSentToTheProcessReachesTheWaitNotAThread) {
  const sigset_t signals = block_shutdown_signals();
  // A thread started afterwards inherits the mask, so the signal stays pending for the wait.
  std::thread other([] { std::this_thread::sleep_for(std::chrono::milliseconds(50)); });
  EXPECT_FALSE(wait_for_shutdown_signal(signals, std::chrono::milliseconds(10)));
  kill(getpid(), SIGTERM);
  EXPECT_TRUE(wait_for_shutdown_signal(signals, std::chrono::milliseconds(1000)));
  kill(getpid(), SIGINT);
  EXPECT_EQ(wait_for_shutdown_signal(signals), SIGINT);
  other.join();
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
}

}  // namespace
}  // namespace tokengrid
