// AnswerAssembler: a whole OpenAI answer built from the chunks of a stream, so that the gateway
// can always ask sites for streams (and continue one elsewhere when a site fails midway) while
// a client that did not ask for a stream gets one chat.completion or text_completion object.
//
// Per choice index it concatenates the text (`delta.content` or `text`), the logprobs (chat's
// `logprobs.content`, completions' `tokens`/`token_logprobs`/`top_logprobs`/`text_offset`), the
// tool calls (pieces merged by their index: id, type, function name and arguments), and keeps
// the role and the last finish_reason. Choices come out in index order.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/json_scan.h"

namespace tokengrid::gateway {

class AnswerAssembler {
 public:
  explicit AnswerAssembler(bool chat) : chat_(chat) {}

  // One chunk's choices (its id, model and other fields are not kept); `chunk` is a value
  // from json_scan::scan, read without a document.
  void add(json_scan::Value chunk);
  // The whole answer with these fields and `usage` (JSON text) as JSON text: byte for byte the
  // dump of the document it describes, written without building one.
  std::string answer(const std::string& id, int64_t created, const std::string& model, std::string_view usage) const;

 private:
  struct ToolCall {
    std::string id, type = "function", name, arguments;
  };
  struct Choice {
    std::string role = "assistant";
    std::string text;
    nlohmann::ordered_json finish_reason;  // null until a chunk ends the choice
    nlohmann::ordered_json logprobs;       // null unless chunks carry logprobs
    std::map<int, ToolCall> tool_calls;
  };
  void add_chat(Choice& c, json_scan::Value delta);
  static void write_chat_choice(std::string& out, int index, const Choice& c);
  static void write_text_choice(std::string& out, int index, const Choice& c);

  bool chat_;
  std::map<int, Choice> choices_;
};

}  // namespace tokengrid::gateway
