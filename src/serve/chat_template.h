// Chat templates: turning a list of chat messages into the prompt text a model was trained on.
//
// The GGUF key `tokenizer.chat_template` holds a Jinja template; tokengrid does not run Jinja.
// It recognises the template's family by markers no other family uses, and renders that
// family with its own code:
//
//   Llama 3  `<|start_header_id|>`        <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
//   ChatML   `<|im_start|>`               <|im_start|>role\ncontent<|im_end|>\n
//   Zephyr   `<|user|>` and `<|assistant|>`  <|role|>\ncontent</s>\n
//   Llama 2  `[INST]` and `<<SYS>>`        [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] ...
//   Mistral  `[INST]` without `<<SYS>>`   [INST] system\n\nuser [/INST]answer</s>[INST] ...
//   Phi-3    `<|user|>`, `<|assistant|>` and `<|end|>`  <|role|>\ncontent<|end|>\n
//   Gemma    `<start_of_turn>`             <start_of_turn>role\ncontent<end_of_turn>\n, "model" for the
//            assistant, system messages joined into the first user turn (Gemma has no system role)
//
// Fallback (no template, or one of no known family): a plain transcript, one line per message
// as "System: ...", "User: ...", "Assistant: ...", ending with "Assistant:" for the model to
// continue. Every family's rendering ends where the assistant's answer starts.
//
// The beginning-of-sequence token is not part of the rendered text: the tokenizer adds it.
// Special-token markers elsewhere in the text (<|eot_id|>, </s><s>, ...) are written literally;
// the tokenizer must map them to their special ids.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/openai_protocol.h"

namespace tokengrid::serve {

enum class ChatTemplateFamily { kFallback, kLlama2, kLlama3, kChatMl, kMistral, kZephyr, kPhi3, kGemma };

const char* chat_template_family_name(ChatTemplateFamily family);

// The family of a GGUF chat template; kFallback when empty or unrecognised.
ChatTemplateFamily detect_chat_template(std::string_view jinja_template);

// The prompt for `messages`, ready for the assistant's answer.
std::string render_chat(ChatTemplateFamily family, const std::vector<http::ChatMessage>& messages);

// Text that ends an assistant turn in this family and should also stop generation, e.g.
// "<|eot_id|>" (empty when the end-of-sequence token already marks it).
std::vector<std::string> chat_stop_sequences(ChatTemplateFamily family);

}  // namespace tokengrid::serve
