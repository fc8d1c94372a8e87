#include "gateway/client_usage.h"

#include <charconv>
#include <cmath>

#include "core/json_string.h"

namespace tokengrid::gateway {
namespace {

void append_integer(std::string& out, int64_t v) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, end);
}

// Shortest round-trip digits, with ".0" on a whole number so that it still reads as a float.
void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  const std::string_view text(buf, static_cast<size_t>(end - buf));
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

void append_field(std::string& out, const char* name) {
  out += ",\"";
  out += name;
  out += "\":";
}

}  // namespace

std::string client_usage(const UsageRecord& r, bool generation) {
  std::string out;
  out.reserve(320);
  out += "{\"prompt_tokens\":";
  append_integer(out, r.prompt_tokens);
  if (generation) {
    append_field(out, "completion_tokens");
    append_integer(out, r.completion_tokens);
    append_field(out, "total_tokens");
    append_integer(out, r.prompt_tokens + r.completion_tokens);
    append_field(out, "prompt_tokens_details");
    out += "{\"cached_tokens\":";
    append_integer(out, r.cached_tokens);
    out += '}';
  } else {
    append_field(out, "total_tokens");
    append_integer(out, r.prompt_tokens);
  }
  append_field(out, "site");
  append_json_string(out, r.site);
  append_field(out, "zone");
  append_json_string(out, r.zone);
  const std::pair<const char*, double> amounts[] = {
      {"it_wh", r.it_wh}, {"facility_wh", r.facility_wh}, {"pue", r.pue}, {"usd", r.usd}, {"g_co2e", r.g_co2e},
      {"price_usd_per_mwh", r.price_usd_per_mwh}, {"carbon_g_per_kwh", r.carbon_g_per_kwh}};
  for (const auto& [name, value] : amounts) {
    append_field(out, name);
    append_double(out, value);
  }
  return out + '}';
}

}  // namespace tokengrid::gateway
