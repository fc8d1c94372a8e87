#include "gateway/request_priority.h"

#include <algorithm>

namespace tokengrid::gateway {

void set_attempt_priority(nlohmann::ordered_json& body, bool batch, bool tokengrid_site) {
  if (!batch || !tokengrid_site) return;
  auto given = body.find("priority");
  const int own = given != body.end() && given->is_number_integer() ? given->get<int>() : 0;
  body["priority"] = std::max(own, kBatchPriority);
}

}  // namespace tokengrid::gateway
