// Tool calling: how a model family writes function calls, the prompt that offers the tools,
// the grammar that forces a call, and the parser that turns generated text into OpenAI's
// tool_calls.
//
// Two syntaxes, chosen by the chat template's family:
//   Hermes (ChatML/Qwen, and every family without its own):
//     <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>, calls separated by "\n";
//     results come back as user turns holding <tool_response>\n...\n</tool_response>.
//   Llama 3 (JSON tool calling): {"name": "f", "parameters": {...}}, calls separated by "; ",
//     the whole answer being calls; results come back as ipython turns.
//
// With tool_choice `required` or a named function the output is produced under a grammar: the
// calls' layout is fixed and each call's arguments match that function's parameter schema.
// With `auto` the model is free, unless a response_format is given: then the output is that
// format or calls. The parser accepts what a free model may write: any key order and spacing
// (such a call is reported whole when it ends instead of streamed), text before a call.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/openai_protocol.h"
#include "serve/chat_template.h"
#include "serve/structured_output.h"

namespace tokengrid::serve {

enum class ToolCallSyntax { kHermes, kLlama3 };

ToolCallSyntax tool_call_syntax(ChatTemplateFamily family);

// The conversation lowered to messages every template renders: with `offer_tools`, the tool
// definitions in the system message (Hermes) or the first user message (Llama 3); assistant
// calls written in the syntax; tool results as the syntax returns them.
std::vector<http::ChatMessage> lower_tool_messages(ToolCallSyntax syntax, const std::vector<http::ChatMessage>& messages,
                                                   const std::vector<http::Tool>& tools, bool offer_tools);

// The grammar for a chat output with tools; null when the output is free.
GrammarResult tool_output_grammar(ToolCallSyntax syntax, const http::ChatRequest& request, GrammarCache& cache);

// Turns generated text, piece by piece, into content and tool calls.
class ToolCallParser {
 public:
  struct Event {
    enum class Kind { kContent, kCallStart, kArguments };
    Kind kind;
    int call = 0;      // kCallStart, kArguments: the call's index
    std::string text;  // kContent, kArguments
  };

  explicit ToolCallParser(ToolCallSyntax syntax) : syntax_(syntax) {}

  std::vector<Event> push(std::string_view text);
  // The end of the output: what is still held back.
  std::vector<Event> finish();

  const std::vector<http::ToolCall>& calls() const { return calls_; }
  const std::string& content() const { return content_; }

 private:
  enum class State { kStart, kText, kHeader, kArguments, kClose, kWhole, kFreeText };

  // One step on the buffer; false when it needs more text.
  bool step(std::vector<Event>& out);
  bool step_text(std::vector<Event>& out);
  bool step_header(std::vector<Event>& out);
  bool step_arguments(std::vector<Event>& out);
  bool step_close();
  bool step_whole(std::vector<Event>& out, bool at_end);
  void content(std::string text, std::vector<Event>& out);
  void start_call(std::string name, std::vector<Event>& out);
  void arguments(std::string text, std::vector<Event>& out);

  ToolCallSyntax syntax_;
  State state_ = State::kStart;
  std::string buffer_;
  std::vector<http::ToolCall> calls_;
  std::string content_;
  // The arguments' JSON value while it streams.
  int depth_ = 0;
  bool started_ = false, in_string_ = false, escaped_ = false, scalar_ = false;
};

}  // namespace tokengrid::serve
