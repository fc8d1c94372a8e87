// Reading grid signals from CSV (format in signals.h).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "grid/clock.h"
#include "grid/signals.h"

namespace tokengrid::grid {
namespace {

constexpr std::string_view kHeader = "utc_hour,price_usd_per_mwh,carbon_g_per_kwh,temp_c";

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    out.push_back(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool parse_number(std::string_view s, double& out) {
  s = trim(s);
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(out);
}

}  // namespace

Result<ZoneSeries> parse_signals_csv(std::string_view text, const std::string& zone, const std::string& file) {
  ZoneSeries series;
  series.zone = zone;
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<uint8_t> temp_known;
  size_t pos = 0;
  int line_no = 0;
  bool has_curtailed = false;
  size_t columns = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    const bool last = end == std::string_view::npos;
    if (last) end = text.size();
    std::string_view line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    auto fail = [&](const std::string& what) {
      return corrupt(file + ":" + std::to_string(line_no) + ": " + what);
    };
    if (line_no == 1) {
      if (line == kHeader) {
        columns = 4;
      } else if (line == std::string(kHeader) + ",curtailed") {
        columns = 5;
        has_curtailed = true;
      } else {
        return fail("header is '" + std::string(line.substr(0, 120)) + "', expected '" + std::string(kHeader) +
                    "' (optionally followed by ',curtailed')");
      }
      continue;
    }
    if (line.empty()) continue;
    const auto cells = split(line);
    if (cells.size() != columns)
      return fail("expected " + std::to_string(columns) + " comma-separated fields, found " +
                  std::to_string(cells.size()) + (last ? " (is the file truncated?)" : ""));
    auto t = parse_utc_time(trim(cells[0]));
    if (!t.is_ok()) return fail("utc_hour: " + t.status().message());
    const size_t row = series.hours();
    if (row == 0) {
      if (std::fmod(*t, 3600.0) != 0) return fail("utc_hour must be a whole hour");
      series.start_unix_s = *t;
    } else if (*t != series.start_unix_s + 3600.0 * static_cast<double>(row)) {
      return fail("utc_hour " + std::string(trim(cells[0])) + " is not the hour after " +
                  format_utc_hour(series.start_unix_s + 3600.0 * static_cast<double>(row - 1)) +
                  " (rows must be consecutive hours)");
    }
    double price, carbon, temp = 0;
    if (!parse_number(cells[1], price) || std::abs(price) > 1e5)
      return fail("price_usd_per_mwh '" + std::string(cells[1]) + "' is not a number within +-100000");
    if (!parse_number(cells[2], carbon) || carbon < 0 || carbon > 5000)
      return fail("carbon_g_per_kwh '" + std::string(cells[2]) + "' is not a number in 0..5000");
    const bool temp_given = !trim(cells[3]).empty();
    if (temp_given && (!parse_number(cells[3], temp) || temp < -90 || temp > 70))
      return fail("temp_c '" + std::string(cells[3]) + "' is not a number in -90..70");
    uint8_t curtailed = 0;
    if (has_curtailed) {
      const std::string_view c = trim(cells[4]);
      if (c == "1" || c == "true")
        curtailed = 1;
      else if (!(c.empty() || c == "0" || c == "false"))
        return fail("curtailed '" + std::string(c) + "' must be 0, 1, true, false or empty");
    }
    series.price_usd_per_mwh.push_back(static_cast<float>(price));
    series.carbon_g_per_kwh.push_back(static_cast<float>(carbon));
    series.temp_c.push_back(static_cast<float>(temp));
    series.curtailed.push_back(curtailed);
    temp_known.push_back(temp_given ? 1 : 0);
  }
  if (line_no == 0) return corrupt(file + ": empty file; expected the header '" + std::string(kHeader) + "'");
  if (series.hours() == 0) return corrupt(file + ": no data rows after the header");
  // Fill temperature gaps from the nearest earlier reading, leading gaps from the first one.
  const auto first = std::find(temp_known.begin(), temp_known.end(), 1);
  if (first == temp_known.end()) return corrupt(file + ": temp_c is empty in every row");
  float carry = series.temp_c[first - temp_known.begin()];
  for (size_t i = 0; i < series.hours(); ++i) {
    if (temp_known[i])
      carry = series.temp_c[i];
    else
      series.temp_c[i] = carry;
  }
  return series;
}

Status Signals::load_csv(const std::string& path, const std::string& zone) {
  auto file = MappedFile::open(path);
  if (!file.is_ok()) return file.status();
  const std::string_view text(reinterpret_cast<const char*>(file->data()), file->size());
  auto series = parse_signals_csv(text, zone, path);
  if (!series.is_ok()) return series.status();
  return add(std::move(*series));
}

Status Signals::load_directory(const std::string& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".csv") files.push_back(entry.path());
  }
  if (ec) return io_error("cannot list signal directory " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  int loaded = 0;
  for (const auto& f : files) {
    const std::string stem = f.stem().string();
    const size_t underscore = stem.rfind('_');
    if (underscore == std::string::npos || underscore == 0) continue;
    TG_RETURN_IF_ERROR(load_csv(f.string(), stem.substr(0, underscore)));
    ++loaded;
  }
  if (loaded == 0)
    return not_found("no <ZONE>_<year>.csv signal files in " + dir +
                     "; point to the shared grid data or generate synthetic signals");
  return Status::ok();
}

}  // namespace tokengrid::grid
