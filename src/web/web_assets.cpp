#include "web/web_assets.h"

#include <algorithm>

#include "web/web_assets_data.h"

namespace tokengrid::web {
namespace {

std::string_view view(const unsigned char* bytes, size_t size) {
  return bytes ? std::string_view(reinterpret_cast<const char*>(bytes), size) : std::string_view();
}

std::vector<WebAsset> load() {
  std::vector<WebAsset> assets;
  if (!kWebAssetsBuilt) return assets;
  for (size_t i = 0; i < kWebAssetDataCount; ++i) {
    const WebAssetData& d = kWebAssetData[i];
    assets.push_back({d.path, view(d.bytes, d.size), view(d.gzip_bytes, d.gzip_size), d.etag});
  }
  std::sort(assets.begin(), assets.end(), [](const WebAsset& a, const WebAsset& b) { return a.path < b.path; });
  return assets;
}

}  // namespace

const std::vector<WebAsset>& web_assets() {
  static const std::vector<WebAsset> assets = load();
  return assets;
}

const WebAsset* find_web_asset(std::string_view path) {
  const std::vector<WebAsset>& assets = web_assets();
  auto it = std::lower_bound(assets.begin(), assets.end(), path,
                             [](const WebAsset& a, std::string_view p) { return a.path < p; });
  return it != assets.end() && it->path == path ? &*it : nullptr;
}

bool web_assets_built() { return kWebAssetsBuilt; }

}  // namespace tokengrid::web
