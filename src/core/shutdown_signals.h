// Shutdown signals for long-running commands (serve, gateway, up, the benchmark backends).
//
// block_shutdown_signals() blocks SIGINT and SIGTERM in the calling thread before any other
// thread starts (threads inherit the mask), so that they are never delivered to a random
// thread but only to the waits below; it also ignores SIGPIPE, so that a peer closing a socket
// is an error on the write rather than the end of the process.
#pragma once

#include <csignal>
#include <chrono>

namespace tokengrid {

sigset_t block_shutdown_signals();
// Waits for SIGINT or SIGTERM; the signal's number.
int wait_for_shutdown_signal(const sigset_t& signals);
// Waits up to `timeout` for one; true when one came.
bool wait_for_shutdown_signal(const sigset_t& signals, std::chrono::milliseconds timeout);

}  // namespace tokengrid
