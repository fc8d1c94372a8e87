// Chat templates: turning a list of chat messages into the prompt text a model was trained on.
//
// The GGUF key `tokenizer.chat_template` holds a Jinja template; tokengrid does not run Jinja.
// It recognises the template's family by markers no other family uses, and renders that
// family with its own code:
//
//   Llama 3  `<|start_header_id|>`        <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
//   Qwen 3   `<|im_start|>` and `</think>`  ChatML; earlier answers lose their <think> reasoning
//   Phi-4    `<|im_start|>` and `<|im_sep|>`  <|im_start|>role<|im_sep|>content<|im_end|>
//   ChatML   `<|im_start|>`               <|im_start|>role\ncontent<|im_end|>\n (Qwen 2/2.5, SmolLM, ...)
//   Gemma    `<start_of_turn>`            <start_of_turn>user\ncontent<end_of_turn>\n, the assistant as
//            "model"; no system role: system text opens the first turn, followed by \n\n
//   Phi-3    `<|user|>`, `<|assistant|>`, `<|end|>`  <|role|>\ncontent<|end|>\n
//   Zephyr   `<|user|>` and `<|assistant|>`  <|role|>\ncontent</s>\n
//   Llama 2  `[INST]` and `<<SYS>>`        [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] ...
//   Mistral  `[INST]` without `<<SYS>>`   [INST] system\n\nuser [/INST]answer</s>[INST] ...
//
// Each rendering is what the family's own template renders with add_generation_prompt for
// conversations of system, user and assistant messages (Llama 3 and Gemma trim contents, as
// their templates do). A ChatML template that adds a fixed system message when the
// conversation has none (Qwen 2.5's "You are Qwen, created by Alibaba Cloud. ...") keeps
// doing so: the message is read from the template.
//
// Fallback (no template, or one of no known family): a plain transcript, one line per message
// as "System: ...", "User: ...", "Assistant: ...", ending with "Assistant:" for the model to
// continue. Every family's rendering ends where the assistant's answer starts.
//
// The beginning-of-sequence token is not part of the rendered text: the tokenizer adds it.
// Special-token markers elsewhere in the text (<|eot_id|>, </s><s>, ...) are written literally;
// the tokenizer must map them to their special ids, and only them: the rendering says where
// the messages' contents are, so that a user who types "<|im_start|>" gets text, not a turn.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer.h"
#include "http/openai_protocol.h"

namespace tokengrid::serve {

enum class ChatTemplateFamily {
  kFallback, kLlama2, kLlama3, kChatMl, kQwen3, kPhi4, kGemma, kPhi3, kMistral, kZephyr
};

const char* chat_template_family_name(ChatTemplateFamily family);

struct ChatTemplate {
  ChatTemplate(ChatTemplateFamily f = ChatTemplateFamily::kFallback, std::string system = {})
      : family(f), default_system(std::move(system)) {}
  ChatTemplateFamily family;
  std::string default_system;  // ChatML: the system message added when none is given
};

// The family of a GGUF chat template (kFallback when empty or unrecognised), and its default
// system message.
ChatTemplate detect_chat_template(std::string_view jinja_template);

// A rendered prompt, and where in it the messages' contents are: the client's text, in which
// special-token markers must stay plain text (engine::Tokenizer::encode_prompt).
struct RenderedChat {
  std::string text;
  std::vector<engine::TextRange> contents;  // in order, not overlapping
};

// The prompt for `messages`, ready for the assistant's answer.
RenderedChat render_chat(const ChatTemplate& chat_template, const std::vector<http::ChatMessage>& messages);

// Text that ends an assistant turn in this family and should also stop generation, e.g.
// "<|eot_id|>" (empty when the end-of-sequence token already marks it).
std::vector<std::string> chat_stop_sequences(ChatTemplateFamily family);

}  // namespace tokengrid::serve
