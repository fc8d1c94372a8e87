// The table that cmake/embed_web_assets.cmake generates; read it through web_assets.h.
#pragma once

#include <cstddef>

namespace tokengrid::web {

struct WebAssetData {
  const char* path;
  const unsigned char* bytes;
  size_t size;
  const unsigned char* gzip_bytes;  // null: not worth compressing
  size_t gzip_size;
  const char* etag;  // quoted, strong
};

extern const WebAssetData kWebAssetData[];
extern const size_t kWebAssetDataCount;
extern const bool kWebAssetsBuilt;

}  // namespace tokengrid::web
