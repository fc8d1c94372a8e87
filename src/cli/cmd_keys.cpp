// tokengrid keys: make API keys for the gateway and hash them for the grid file.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "gateway/key_store.h"

namespace tokengrid::cli {
namespace {

using gateway::KeyEntry;

int fail(const std::string& message) {
  std::fprintf(stderr, "tokengrid keys: %s\n", message.c_str());
  return 1;
}

int keys_new(const std::string& name, const std::string& role, const std::string& region) {
  auto key = gateway::new_api_key();
  if (!key) return fail(key.status().message());
  KeyEntry entry;
  entry.sha256 = gateway::sha256_hex(*key);
  entry.name = name.empty() ? "key-" + entry.sha256.substr(0, 8) : name;
  if (Status s = gateway::check_key_name(entry.name); !s) return fail("--name: " + s.message());
  entry.role = role == "admin" ? gateway::KeyRole::kAdmin : gateway::KeyRole::kUser;
  if (region.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos)
    return fail("--region: a region name is letters, digits, '.', '_' and '-', got '" + region + "'");
  entry.region = region;
  std::printf("key:    %s\nsha256: %s\n\n", key->c_str(), entry.sha256.c_str());
  std::printf("Give the key to its user; it is shown only now, and the gateway keeps only its hash.\n"
              "Add this line under `keys:` in the grid file:\n\n  %s\n",
              gateway::key_yaml_line(entry).c_str());
  return 0;
}

int keys_hash() {
  const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  const size_t begin = input.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return fail("no key on stdin: pipe one in, e.g. `printf %s \"$KEY\" | tokengrid keys hash`");
  const size_t end = input.find_last_not_of(" \t\r\n");
  const std::string key = input.substr(begin, end - begin + 1);
  if (key.find_first_of(" \t\r\n") != std::string::npos)
    return fail("stdin holds more than one word: give one key, without spaces or line breaks");
  std::printf("%s\n", gateway::sha256_hex(key).c_str());
  return 0;
}

int run_keys(int argc, char** argv) {
  CLI::App app("Make API keys for the gateway and hash them for the grid file's keys section.", argv[0]);
  app.require_subcommand(1);
  std::string name, role = "user", region;
  CLI::App* make = app.add_subcommand("new", "print a new random key, its SHA-256 and the line for the grid file");
  make->add_option("--name", name, "the key's name in the grid file, ledgers and limits (default: key-HASHPREFIX)");
  make->add_option("--role", role, "user or admin")->check(CLI::IsMember({"user", "admin"}));
  make->add_option("--region", region, "the caller's region when a request names none");
  CLI::App* hash = app.add_subcommand("hash", "read a key on stdin and print its SHA-256 (lowercase hex)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (make->parsed()) return keys_new(name, role, region);
  if (hash->parsed()) return keys_hash();
  return 2;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(keys, "keys", "make gateway API keys and hash them for the grid file", run_keys);

}  // namespace tokengrid::cli
