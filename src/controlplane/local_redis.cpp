#include "controlplane/local_redis.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "controlplane/redis_client.h"
#include "core/loopback_port.h"

namespace tokengrid::controlplane {

Result<std::unique_ptr<LocalRedis>> LocalRedis::start() {
  if (access(kBinary, X_OK) != 0)
    return unavailable(std::string("needs ") + kBinary + ": install Debian's redis-server (scripts/setup.sh installs it)");
  std::string dir = (std::filesystem::temp_directory_path() / "tokengrid-redis-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return io_error("cannot make a temporary directory for redis-server");
  std::unique_ptr<LocalRedis> s(new LocalRedis(dir, free_loopback_port()));
  TG_RETURN_IF_ERROR(s->launch());
  return s;
}

LocalRedis::~LocalRedis() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void LocalRedis::kill() {
  if (process_) ::kill(process_->pid(), SIGKILL);
  process_.reset();
}

Status LocalRedis::restart() {
  kill();
  return launch();
}

Status LocalRedis::launch() {
  TG_ASSIGN_OR_RETURN(process_, ChildProcess::spawn({kBinary, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                                     "--dir", dir_, "--save", "", "--appendonly", "no"},
                                                    log()));
  RedisClient probe(RedisUrl{"127.0.0.1", port_, "", 0}, RedisOptions{0.2, 0.2, 0});
  for (int i = 0; i < 250; ++i) {
    if (probe.command({"PING"})) return Status::ok();
    if (!process_->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill();
  return unavailable("redis-server did not answer on port " + std::to_string(port_) + "; see " + log());
}

}  // namespace tokengrid::controlplane
