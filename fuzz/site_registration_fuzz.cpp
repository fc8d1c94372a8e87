// A site's registration in etcd (controlplane/site_registration.h) on arbitrary bytes: a
// registration that survives its own round trip, or an error, never a crash.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controlplane/site_registration.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = tokengrid::controlplane::parse_site_registration(text);
  if (!r.is_ok()) return 0;
  auto again = tokengrid::controlplane::parse_site_registration(r->to_json());
  if (!again.is_ok() || again->name != r->name || again->endpoints.size() != r->endpoints.size()) std::abort();
  return 0;
}
