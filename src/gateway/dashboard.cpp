#include "gateway/dashboard.h"

#include <string>

#include "http/static_file.h"
#include "web/web_assets.h"

namespace tokengrid::gateway {
namespace {

constexpr std::string_view kPrefix = "dashboard/";

void add_file(http::Router& router, const std::string& route, const web::WebAsset& asset, bool immutable) {
  const http::StaticFile file{asset.body, asset.gzip_body, asset.etag, http::content_type_for(asset.path), immutable};
  router.add("GET", route, [file](std::shared_ptr<http::HttpExchange> e) {
    e->respond(http::static_file_response(e->request(), file));
  });
}

}  // namespace

void add_dashboard_routes(http::Router& router) {
  if (!web::web_assets_built()) {
    router.add("GET", "/", [](std::shared_ptr<http::HttpExchange> e) {
      e->respond(http::HttpResponse::text(
          404,
          "This tokengrid was built without its dashboard: the npm packages of web/dashboard were missing. "
          "Run scripts/setup.sh (it runs npm ci there), then rebuild. The grid is at /v1/grid.\n"));
    });
    return;
  }
  for (const web::WebAsset& asset : web::web_assets()) {
    if (!asset.path.starts_with(kPrefix)) continue;
    const std::string relative(asset.path.substr(kPrefix.size()));
    if (relative == "index.html") add_file(router, "/", asset, false);
    add_file(router, "/" + relative, asset, relative.starts_with("assets/"));
  }
}

}  // namespace tokengrid::gateway
