// The tokengrid command's subcommands register themselves here.
//
// Each subcommand lives in its own cmd_*.cpp file, parses its own arguments and returns the
// process exit code. The CLI holds no logic of its own: it calls into the libraries.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace tokengrid::cli {

struct Command {
  const char* name;     // first word after `tokengrid`
  const char* summary;  // one line for `tokengrid --help`
  int (*run)(int argc, char** argv);  // argv[0] is "tokengrid NAME"
};

// Adds a command to the registry; used by static registrars in cmd_*.cpp.
bool register_command(const Command& command);
// All registered commands, sorted by name.
std::vector<Command> registered_commands();

}  // namespace tokengrid::cli

#define TOKENGRID_REGISTER_COMMAND(ident, name, summary, fn) \
  static const bool tokengrid_command_##ident =              \
      ::tokengrid::cli::register_command({name, summary, fn})
