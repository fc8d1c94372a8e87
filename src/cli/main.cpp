#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/command.h"

namespace tokengrid::cli {

static std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

bool register_command(const Command& command) {
  registry().push_back(command);
  return true;
}

std::vector<Command> registered_commands() {
  std::vector<Command> commands = registry();
  std::sort(commands.begin(), commands.end(),
            [](const Command& a, const Command& b) { return std::strcmp(a.name, b.name) < 0; });
  return commands;
}

static void print_usage(FILE* out) {
  std::fprintf(out,
               "tokengrid: LLM serving as a utility, dispatched by price, carbon and power.\n\n"
               "usage: tokengrid COMMAND [ARGS...]   (tokengrid COMMAND --help for details)\n\n"
               "commands:\n");
  for (const Command& c : registered_commands()) std::fprintf(out, "  %-13s %s\n", c.name, c.summary);
}

}  // namespace tokengrid::cli

int main(int argc, char** argv) {
  using namespace tokengrid::cli;
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : registered_commands()) {
    if (std::strcmp(argv[1], c.name) == 0) {
      std::string name = std::string("tokengrid ") + c.name;
      argv[1] = name.data();
      return c.run(argc - 1, argv + 1);
    }
  }
  std::fprintf(stderr, "tokengrid: unknown command '%s'; run 'tokengrid --help' for the list\n",
               argv[1]);
  return 2;
}
