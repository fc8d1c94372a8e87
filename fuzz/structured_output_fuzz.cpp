// What a client's response_format, guided_* fields and tools become in `tokengrid serve`: the
// input is read as a chat and a completion body (openai_protocol.h) and, where one is accepted,
// its format and tools are compiled into grammars (structured_output.h, tool_calls.h) by the
// engine's JSON Schema and regex compilers, for both tool call syntaxes, and the tool messages
// are lowered for the prompt. Every refusal must be OpenAI's 400; compiling must neither crash
// nor run past libFuzzer's timeout, since a request waits on it.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/openai_protocol.h"
#include "serve/structured_output.h"
#include "serve/tool_calls.h"

namespace {

using tokengrid::serve::GrammarResult;

void check(const GrammarResult& g) {
  if (!g.is_ok() && (g.error().status != 400 || g.error().message.empty())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  auto chat = tokengrid::http::parse_chat_request(body);
  if (chat.is_ok()) {
    // A fresh cache each time: a compiled grammar must not hide the next compilation.
    tokengrid::serve::GrammarCache cache;
    check(tokengrid::serve::response_format_grammar(chat->options.response_format, cache));
    for (auto syntax : {tokengrid::serve::ToolCallSyntax::kHermes, tokengrid::serve::ToolCallSyntax::kLlama3}) {
      tokengrid::serve::GrammarCache per_syntax;
      check(tokengrid::serve::tool_output_grammar(syntax, *chat, per_syntax));
      (void)tokengrid::serve::lower_tool_messages(syntax, chat->messages, chat->tools, !chat->tools.empty());
    }
  }
  auto completion = tokengrid::http::parse_completion_request(body);
  if (completion.is_ok()) {
    tokengrid::serve::GrammarCache cache;
    check(tokengrid::serve::response_format_grammar(completion->options.response_format, cache));
  }
  return 0;
}
