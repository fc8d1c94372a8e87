// BatchApi: OpenAI's Files and Batch routes on the gateway (docs/gateway.md, "Batches").
//
//   POST   /v1/files                       multipart/form-data: purpose=batch, file (.jsonl, at most 200 MB),
//                                          optional expires_after[anchor]=created_at, expires_after[seconds]
//   GET    /v1/files                       ?purpose= &limit= (1..10000) &order=asc|desc &after=
//   GET    /v1/files/{file_id}             DELETE /v1/files/{file_id}    GET /v1/files/{file_id}/content
//   POST   /v1/batches                     {input_file_id, endpoint, completion_window: "24h", metadata,
//                                           output_expires_after}
//   GET    /v1/batches                     ?after= &limit= (1..100)
//   GET    /v1/batches/{batch_id}          POST /v1/batches/{batch_id}/cancel
//
// Guarantees: every refusal is OpenAI's error object naming the field (`param`): 401 without a
// valid key, 400 for a request OpenAI would refuse (and for a field OpenAI has that tokengrid
// does not do, such as another purpose or endpoint), 404 for an object that is not there or
// belongs to another key (an admin key sees every key's), 409 to cancel a batch already
// finished. Times are the grid clock's. A key sees only its own files and batches.
#pragma once

#include <string>

#include "gateway/batch_runner.h"
#include "gateway/batch_store.h"
#include "gateway/key_store.h"
#include "grid/clock.h"
#include "http/router.h"

namespace tokengrid::gateway {

// The most a POST /v1/files body may be: the largest batch file and its multipart framing.
inline constexpr size_t kMaxUploadBodyBytes = kMaxBatchFileBytes + (1u << 20);

class BatchApi {
 public:
  BatchApi(BatchStore& store, BatchRunner& runner, const KeyStore& keys, const grid::Clock& signal_clock)
      : store_(store), runner_(runner), keys_(keys), clock_(signal_clock) {}

  void add_routes(http::Router& router);

 private:
  void upload(std::shared_ptr<http::HttpExchange> e);
  void list_files(std::shared_ptr<http::HttpExchange> e);
  void get_file(std::shared_ptr<http::HttpExchange> e, const std::string& id);
  void delete_file(std::shared_ptr<http::HttpExchange> e, const std::string& id);
  void file_content(std::shared_ptr<http::HttpExchange> e, const std::string& id);
  void create_batch(std::shared_ptr<http::HttpExchange> e);
  void list_batches(std::shared_ptr<http::HttpExchange> e);
  void get_batch(std::shared_ptr<http::HttpExchange> e, const std::string& id);
  void cancel_batch(std::shared_ptr<http::HttpExchange> e, const std::string& id);

  // The caller's key, or the 401 already sent.
  const KeyEntry* caller(const std::shared_ptr<http::HttpExchange>& e) const;
  // The file or batch if the caller may see it, or the 404 (or 500) already sent.
  std::optional<FileRecord> visible_file(const std::shared_ptr<http::HttpExchange>& e, const KeyEntry& key,
                                         const std::string& id);
  std::optional<BatchRecord> visible_batch(const std::shared_ptr<http::HttpExchange>& e, const KeyEntry& key,
                                           const std::string& id);
  void respond_batch(const std::shared_ptr<http::HttpExchange>& e, const BatchRecord& batch);
  int64_t now() const { return static_cast<int64_t>(clock_.now_unix_s()); }

  BatchStore& store_;
  BatchRunner& runner_;
  const KeyStore& keys_;
  const grid::Clock& clock_;
};

}  // namespace tokengrid::gateway
