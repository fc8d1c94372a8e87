#include "gateway/batch_objects.h"

namespace tokengrid::gateway {
namespace {

using ojson = nlohmann::ordered_json;

ojson optional_time(const std::optional<int64_t>& t) { return t ? ojson(*t) : ojson(nullptr); }

ojson id_or_null(const std::string& id) { return id.empty() ? ojson(nullptr) : ojson(id); }

}  // namespace

ojson file_object(const FileRecord& f) {
  return {{"id", f.id},
          {"object", "file"},
          {"bytes", f.bytes},
          {"created_at", f.created_at},
          {"expires_at", optional_time(f.expires_at)},
          {"filename", f.filename},
          {"purpose", f.purpose},
          {"status", "processed"},
          {"status_details", nullptr}};
}

ojson batch_object(const BatchRecord& b, const BatchUsage& u) {
  ojson errors = nullptr;
  if (b.errors.is_array()) errors = {{"object", "list"}, {"data", b.errors}};
  return {{"id", b.id},
          {"object", "batch"},
          {"endpoint", b.endpoint},
          {"model", b.model.empty() ? ojson(nullptr) : ojson(b.model)},
          {"errors", errors},
          {"input_file_id", b.input_file_id},
          {"completion_window", b.completion_window},
          {"status", b.status},
          {"output_file_id", id_or_null(b.output_file_id)},
          {"error_file_id", id_or_null(b.error_file_id)},
          {"created_at", b.created_at},
          {"in_progress_at", optional_time(b.in_progress_at)},
          {"expires_at", b.expires_at},
          {"finalizing_at", optional_time(b.finalizing_at)},
          {"completed_at", optional_time(b.completed_at)},
          {"failed_at", optional_time(b.failed_at)},
          {"expired_at", optional_time(b.expired_at)},
          {"cancelling_at", optional_time(b.cancelling_at)},
          {"cancelled_at", optional_time(b.cancelled_at)},
          {"request_counts", {{"total", b.counts.total}, {"completed", b.counts.completed}, {"failed", b.counts.failed}}},
          {"usage",
           {{"input_tokens", u.prompt_tokens},
            {"input_tokens_details", {{"cached_tokens", u.cached_tokens}}},
            {"output_tokens", u.completion_tokens},
            {"output_tokens_details", {{"reasoning_tokens", 0}}},
            {"total_tokens", u.prompt_tokens + u.completion_tokens}}},
          {"metadata", b.metadata.is_object() ? ojson(b.metadata) : ojson(nullptr)},
          {"plan", b.plan.is_object() ? ojson(b.plan) : ojson(nullptr)},
          {"footprint",
           {{"facility_wh", u.facility_wh}, {"usd", u.usd}, {"g_co2e", u.g_co2e}, {"hours_used", u.hours_used}}}};
}

std::string output_line(const std::string& custom_id, int status_code, const std::string& request_id,
                        const nlohmann::json& body) {
  return ojson{{"id", batch_object_id("batch_req_")},
               {"custom_id", custom_id},
               {"response", {{"status_code", status_code}, {"request_id", request_id}, {"body", body}}},
               {"error", nullptr}}
      .dump();
}

std::string error_line(const std::string& custom_id, const std::string& code, const std::string& message) {
  return ojson{{"id", batch_object_id("batch_req_")},
               {"custom_id", custom_id},
               {"response", nullptr},
               {"error", {{"code", code}, {"message", message}}}}
      .dump();
}

}  // namespace tokengrid::gateway
