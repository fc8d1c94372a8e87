// A live grid in processes for end-to-end tests: `tokengrid up --config` or `tokengrid serve`
// workers with `tokengrid gateway`, a steady load from client threads, and readers of the
// ledger and of /v1/grid. Everything started here stops when its owner goes.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/test_data.h"
#include "core/child_process.h"
#include "gateway/sqlite_db.h"
#include "grid/clock.h"
#include "http/http_client.h"
#include "http/sse.h"

namespace tokengrid::e2e {

using nlohmann::json;

inline int free_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

inline std::string shared_data() { return test_data::shared_data_dir(); }

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "tokengrid_e2e_XXXXXX").string();
    if (!mkdtemp(pattern.data())) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// One site of a test grid: a local tokengrid worker on `port` in `zone`.
struct TestSite {
  std::string name, zone;
  int port = 0;
  double power_cap_kw = 0;
  std::string host = "127.0.0.1";
  int max_concurrency = 8;
};

// A grid file: identical CPU sites (flat PUE), one endpoint each, the signals given.
inline std::string grid_yaml(int gateway_port, const std::vector<TestSite>& sites, const std::string& signals,
                             const std::string& policy, const std::string& start, double speed,
                             const std::string& ledger) {
  std::string y = "listen: {port: " + std::to_string(gateway_port) + "}\nreplica: e2e\n";
  y += "clock: {mode: replay, start: \"" + start + "\", speed: " + std::to_string(speed) + "}\n";
  y += "signals: " + signals + "\npolicy: {name: " + policy + "}\n";
  y += "ledger: {path: \"" + ledger + "\"}\nhealth: {interval_ms: 200}\nsites:\n";
  for (const TestSite& s : sites) {
    y += "  - {name: " + s.name + ", cloud: test, region: " + s.name + ", zone: " + s.zone +
         ", accelerators: [{type: cpu, count: 1}], cpu_power: {idle_w: 20, busy_core_w: 20, cores: 1},"
         " pue: {base: 1.2, threshold_c: 20, rise_per_c: 0, max: 1.2}, power_cap_kw: " +
         std::to_string(s.power_cap_kw) + ", endpoints: [{url: \"http://" + s.host + ":" + std::to_string(s.port) +
         "\", models: [tiny], max_concurrency: " + std::to_string(s.max_concurrency) + "}]}\n";
  }
  return y;
}

inline std::unique_ptr<ChildProcess> spawn(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> argv = {TOKENGRID_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = ChildProcess::spawn(argv, log);
  EXPECT_TRUE(child.is_ok()) << child.status().to_string();
  return child.is_ok() ? std::move(child).value() : nullptr;
}

// Waits until GET `path` on `port` answers 200 (or the process dies, or `timeout`).
inline bool wait_for(int port, const std::string& path, ChildProcess* process,
                     std::chrono::seconds timeout = std::chrono::seconds(120)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (process && !process->running()) return false;
    http::HttpClient probe("127.0.0.1", static_cast<uint16_t>(port), std::chrono::milliseconds(500));
    auto r = probe.request("GET", path, {}, "");
    if (r.is_ok() && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// Constant signals for zones CHEAP and DEAR from 2024-07-01, CHEAP asking to shed during its
// third hour; the grid file's `signals:` value for them.
inline std::string write_signals(const TempDir& dir) {
  const double start = *grid::parse_utc_time("2024-07-01");
  for (const char* zone : {"CHEAP", "DEAR"}) {
    std::string csv = "utc_hour,price_usd_per_mwh,carbon_g_per_kwh,temp_c,curtailed\n";
    for (int h = 0; h < 48; ++h) {
      const bool shed = std::string(zone) == "CHEAP" && h == 2;
      csv += grid::format_utc_hour(start + 3600.0 * h) + (std::string(zone) == "CHEAP" ? ",10" : ",90") + ",300,15," +
             (shed ? "1" : "0") + "\n";
    }
    write_file(dir.file(std::string(zone) + "_2024.csv"), csv);
  }
  return "{dir: \"" + dir.file("") + "\"}";
}

// The synthetic tiny model the tests share, written once (as `tokengrid up` caches it); with
// `context`, the same weights with a longer context (long streams for failover tests).
inline std::string cached_tiny_model(int context = 0) {
  const std::string name = context > 0 ? "tiny-q8_0-ctx" + std::to_string(context) + ".gguf" : "tiny-q8_0.gguf";
  const std::string path = TOKENGRID_TEST_CACHE "/models/" + name;
  if (std::filesystem::exists(path)) return path;
  std::filesystem::create_directories(TOKENGRID_TEST_CACHE "/models");
  const std::string partial = path + ".partial." + std::to_string(getpid());
  std::vector<std::string> argv = {TOKENGRID_BIN, "model", "synth", "--shape", "tiny", "--type", "q8_0", "--seed", "1", "-o", partial};
  if (context > 0) argv.insert(argv.end(), {"--context", std::to_string(context)});
  auto synth = ChildProcess::spawn(argv, "/dev/null");
  if (!synth.is_ok()) return path;
  while ((*synth)->running()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::filesystem::rename(partial, path);
  return path;
}

inline json get_json(int port, const std::string& path) {
  http::HttpClient client("127.0.0.1", static_cast<uint16_t>(port), std::chrono::seconds(10));
  auto r = client.request("GET", path, {}, "");
  return r.is_ok() ? json::parse(r->body, nullptr, false) : json();
}

// Where one small request went ("" when it was not answered).
inline std::string routed_to(int port) {
  http::HttpClient client("127.0.0.1", static_cast<uint16_t>(port), std::chrono::seconds(10));
  http::HttpHeaders h;
  h.set("Content-Type", "application/json");
  const json body = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}};
  auto r = client.request("POST", "/v1/chat/completions", h, body.dump());
  return r.is_ok() && r->status == 200 ? std::string(r->headers.get("x-tokengrid-site")) : "";
}

// Client threads sending small chat requests until stopped; counts what completed.
class SteadyLoad {
 public:
  SteadyLoad(int port, int clients, int max_tokens = 4) {
    for (int i = 0; i < clients; ++i) {
      threads_.emplace_back([this, port, i, max_tokens] {
        http::HttpClient client("127.0.0.1", static_cast<uint16_t>(port), std::chrono::seconds(30));
        http::HttpHeaders h;
        h.set("Content-Type", "application/json");
        const std::string body = json{{"model", "tiny"},
                                      {"messages", {{{"role", "user"}, {"content", "Tell me about client " + std::to_string(i)}}}},
                                      {"max_tokens", max_tokens}}
                                     .dump();
        while (!stop_) {
          auto r = client.request("POST", "/v1/chat/completions", h, body);
          if (!r.is_ok()) {
            ++failed_;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            continue;
          }
          if (r->status != 200) {
            ++refused_;
            continue;
          }
          const json answer = json::parse(r->body, nullptr, false);
          if (answer.is_object() && answer.contains("id")) on_completed(answer["id"].get<std::string>());
        }
      });
    }
  }
  ~SteadyLoad() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  std::vector<std::string> completed_ids() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ids_;
  }
  int failed() const { return failed_; }
  int refused() const { return refused_; }

 private:
  void on_completed(std::string id) {
    std::lock_guard<std::mutex> lock(mutex_);
    ids_.push_back(std::move(id));
  }
  std::atomic<bool> stop_{false};
  std::atomic<int> failed_{0}, refused_{0};
  std::mutex mutex_;
  std::vector<std::string> ids_;
  std::vector<std::thread> threads_;
};

// A streamed answer as a client saw it: the text of choice 0, its finish reason, the usage.
struct StreamedAnswer {
  int status = 0;
  std::string id, text, finish_reason, error;
  json usage;
  bool done = false;  // [DONE] arrived
  int chunks = 0;
};

// POSTs a streamed request and reads it to its end; `on_chunk` sees the answer after every chunk.
inline StreamedAnswer stream_request(int port, const std::string& route, const json& body,
                                     const std::function<void(const StreamedAnswer&)>& on_chunk = nullptr,
                                     std::chrono::seconds timeout = std::chrono::seconds(60)) {
  http::HttpClient client("127.0.0.1", static_cast<uint16_t>(port), timeout);
  http::HttpHeaders h;
  h.set("Content-Type", "application/json");
  StreamedAnswer a;
  http::SseParser parser;
  auto r = client.request("POST", route, h, body.dump(), [&](std::string_view piece) {
    for (const std::string& data : parser.feed(piece)) {
      if (data == "[DONE]") {
        a.done = true;
        continue;
      }
      const json chunk = json::parse(data, nullptr, false);
      if (!chunk.is_object()) continue;
      if (chunk.contains("error")) a.error = chunk["error"].dump();
      if (chunk.contains("id") && chunk["id"].is_string()) a.id = chunk["id"];
      if (chunk.contains("usage") && chunk["usage"].is_object()) a.usage = chunk["usage"];
      if (!chunk.contains("choices") || !chunk["choices"].is_array() || chunk["choices"].empty()) continue;
      const json& choice = chunk["choices"][0];
      const json& holder = choice.contains("delta") ? choice["delta"] : choice;
      const char* field = choice.contains("delta") ? "content" : "text";
      if (holder.contains(field) && holder[field].is_string()) a.text += holder[field].get<std::string>();
      if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) a.finish_reason = choice["finish_reason"];
      ++a.chunks;
      if (on_chunk) on_chunk(a);
    }
    return true;
  });
  if (!r.is_ok()) a.error = r.status().to_string();
  if (r.is_ok()) {
    a.status = r->status;
    if (r->status != 200) a.error = r->body;
  }
  return a;
}

// A greedy (or seeded) chat request for `max_tokens` tokens that ignores the end of sequence.
inline json long_chat(const std::string& content, int max_tokens, bool stream, bool greedy = true) {
  json body = {{"model", "tiny"},
               {"messages", {{{"role", "user"}, {"content", content}}}},
               {"max_tokens", max_tokens},
               {"ignore_eos", true},
               {"stream", stream}};
  if (stream) body["stream_options"] = {{"include_usage", true}};
  if (greedy) body["temperature"] = 0;
  else body["seed"] = 7;
  return body;
}

struct LedgerRow {
  std::string id, site;
  double signal_unix_s = 0;
  std::string sites_used;  // every site that worked on it, in order
};

inline std::vector<LedgerRow> ledger_rows(const std::string& path) {
  std::vector<LedgerRow> rows;
  auto db = gateway::SqliteDb::open(path, SQLITE_OPEN_READONLY, 5000);
  if (!db.is_ok()) {
    ADD_FAILURE() << db.status().to_string();
    return rows;
  }
  auto st = gateway::SqliteStatement::prepare(*db, "SELECT request_id, site, signal_unix_s, sites_used FROM usage");
  if (!st.is_ok()) {
    ADD_FAILURE() << st.status().to_string();
    return rows;
  }
  while (true) {
    auto more = st->step("reading the ledger");
    if (!more.is_ok() || !*more) break;
    rows.push_back({st->column_text(0), st->column_text(1), st->column_double(2), st->column_text(3)});
  }
  return rows;
}

}  // namespace tokengrid::e2e
