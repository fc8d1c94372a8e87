// A TCP port free on 127.0.0.1 now: the kernel's pick for port 0, released at once. Another
// process may take it before the caller binds it; callers that start servers on it retry.
#pragma once

#include <cstdint>

namespace tokengrid {

uint16_t free_loopback_port();

}  // namespace tokengrid
