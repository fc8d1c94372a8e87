// The dashboard the gateway serves at / (web/dashboard, embedded at build time: web/web_assets.h):
// index.html at / (revalidated on every load), the files Vite names by a hash of their content
// under /assets/ (cached for a year as immutable), everything else at its path; ETag and 304,
// gzip for clients that accept it. The page reads /v1/grid and /v1/grid/events of the same
// gateway and loads nothing from anywhere else.
#pragma once

#include "http/router.h"

namespace tokengrid::gateway {

void add_dashboard_routes(http::Router& router);

}  // namespace tokengrid::gateway
