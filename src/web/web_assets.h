// WebAssets: the files of the dashboard and of the simulator report's charts (Vite's build of
// web/dashboard), embedded into the binary at build time: the gateway serves them from any
// working directory and a report inlines them, so nothing is read from disk or the network at
// run time. Paths are those of the build's output: "dashboard/index.html",
// "dashboard/assets/index-<hash>.js" (Vite names every asset by a hash of its content),
// "report/report.js", "report/report.css". Each file has a strong ETag from its SHA-256 and,
// for text over 1 KiB, a gzip copy.
#pragma once

#include <span>
#include <string_view>
#include <vector>

namespace tokengrid::web {

struct WebAsset {
  std::string_view path;
  std::string_view body;
  std::string_view gzip_body;  // empty: serve `body` only
  std::string_view etag;       // quoted: "\"3f2a...\""
};

// Every embedded file, sorted by path; empty when the build had no npm packages for
// web/dashboard (see built()).
const std::vector<WebAsset>& web_assets();
// The file at `path`, or null.
const WebAsset* find_web_asset(std::string_view path);
// False when tokengrid was built without the npm packages of web/dashboard (scripts/setup.sh
// installs them): there is then no dashboard and reports have no charts.
bool web_assets_built();

}  // namespace tokengrid::web
