// etcd's JSON gateway answers (controlplane/etcd_client.h) on arbitrary bytes: a range, a watch
// message, or an error, never a crash.
#include <cstdint>
#include <string_view>

#include "controlplane/etcd_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)tokengrid::controlplane::parse_range(body);
  (void)tokengrid::controlplane::parse_watch_message(body);
  return 0;
}
