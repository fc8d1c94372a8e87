#include "serve/chat_template.h"

#include <gtest/gtest.h>

namespace tokengrid::serve {

using http::ChatMessage;
namespace {

// Abbreviated templates in each family's style: what matters is that detection keys on the
// markers, whatever Jinja surrounds them.
const char* kLlama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim "
    "+ '<|eot_id|>' %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
const char* kChatMl =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' "
    "}}{% endif %}";
const char* kZephyr =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
    "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' "
    "+ message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ "
    "'<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and "
    "add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
const char* kLlama2 =
    "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
    "messages[0]['content'] | trim + '\\n<</SYS>>\\n\\n' %}{% endif %}{% for message in messages "
    "%}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content | trim + ' [/INST]' "
    "}}{% elif message['role'] == 'assistant' %}{{ ' ' + content | trim + ' ' + eos_token }}{% "
    "endif %}{% endfor %}";
const char* kMistral =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
    "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
    "message['content'] + eos_token}}{% endif %}{% endfor %}";
const char* kPhi3 =
    "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + "
    "'<|end|>\n'}}{% endfor %}<|user|><|assistant|>";
const char* kGemma =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = "
    "'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + "
    "message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{'<start_of_turn>model\n'}}{% endif %}";

TEST(ChatTemplate, DetectsEachFamilyByItsMarkers) {
  EXPECT_EQ(detect_chat_template(kLlama3), ChatTemplateFamily::kLlama3);
  EXPECT_EQ(detect_chat_template(kChatMl), ChatTemplateFamily::kChatMl);
  EXPECT_EQ(detect_chat_template(kZephyr), ChatTemplateFamily::kZephyr);
  EXPECT_EQ(detect_chat_template(kLlama2), ChatTemplateFamily::kLlama2);
  EXPECT_EQ(detect_chat_template(kMistral), ChatTemplateFamily::kMistral);
  EXPECT_EQ(detect_chat_template(""), ChatTemplateFamily::kFallback);
  EXPECT_EQ(detect_chat_template("{{ messages }}"), ChatTemplateFamily::kFallback);
  EXPECT_EQ(detect_chat_template(kPhi3), ChatTemplateFamily::kPhi3);
  EXPECT_EQ(detect_chat_template(kGemma), ChatTemplateFamily::kGemma);
  // Whitespace and quoting changes do not matter.
  std::string reformatted = std::string(kChatMl);
  reformatted.insert(0, "   \n{#- a comment -#}\n");
  EXPECT_EQ(detect_chat_template(reformatted), ChatTemplateFamily::kChatMl);
}

std::vector<ChatMessage> conversation() {
  return {{"system", "Be kind."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", " Bye "}};
}

TEST(ChatTemplate, Llama3) {
  EXPECT_EQ(render_chat(ChatTemplateFamily::kLlama3, conversation()),
            "<|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(chat_stop_sequences(ChatTemplateFamily::kLlama3),
            std::vector<std::string>{"<|eot_id|>"});
}

TEST(ChatTemplate, ChatMl) {
  EXPECT_EQ(render_chat(ChatTemplateFamily::kChatMl, conversation()),
            "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n Bye <|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, Zephyr) {
  EXPECT_EQ(render_chat(ChatTemplateFamily::kZephyr, {{"system", "S"}, {"user", "U"}}),
            "<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n");
}

TEST(ChatTemplate, Llama2) {
  EXPECT_EQ(render_chat(ChatTemplateFamily::kLlama2, conversation()),
            "[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST]");
  EXPECT_EQ(render_chat(ChatTemplateFamily::kLlama2, {{"user", "Q"}}), "[INST] Q [/INST]");
  // A conversation ending with the assistant gets a fresh, empty turn to answer.
  EXPECT_EQ(render_chat(ChatTemplateFamily::kLlama2, {{"user", "Q"}, {"assistant", "A"}}),
            "[INST] Q [/INST] A </s><s>[INST]  [/INST]");
}

TEST(ChatTemplate, Mistral) {
  EXPECT_EQ(render_chat(ChatTemplateFamily::kMistral, conversation()),
            "[INST] Be kind.\n\nHi [/INST]Hello!</s>[INST] Bye [/INST]");
  EXPECT_EQ(render_chat(ChatTemplateFamily::kMistral, {{"system", "Only system"}}),
            "[INST] Only system\n\n [/INST]");
}

TEST(ChatTemplate, FallbackTranscript) {
  EXPECT_EQ(render_chat(ChatTemplateFamily::kFallback, conversation()),
            "System: Be kind.\nUser: Hi\nAssistant: Hello!\nUser: Bye\nAssistant:");
  EXPECT_EQ(chat_stop_sequences(ChatTemplateFamily::kFallback),
            std::vector<std::string>{"\nUser:"});
}

TEST(ChatTemplate, Phi3) {
  EXPECT_EQ(render_chat(ChatTemplateFamily::kPhi3, {{"system", "S"}, {"user", "U"}}),
            "<|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\n");
  EXPECT_EQ(chat_stop_sequences(ChatTemplateFamily::kPhi3), std::vector<std::string>{"<|end|>"});
}

// Gemma has no system role: its template (and so tokengrid) puts the system text first in
// the first user turn.
TEST(ChatTemplate, Gemma) {
  EXPECT_EQ(render_chat(ChatTemplateFamily::kGemma, conversation()),
            "<start_of_turn>user\nBe kind.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(chat_stop_sequences(ChatTemplateFamily::kGemma), std::vector<std::string>{"<end_of_turn>"});
}

TEST(ChatTemplate, EveryFamilyHandlesOddConversations) {
  std::vector<std::vector<ChatMessage>> odd = {
      {{"assistant", "I start"}},
      {{"system", ""}},
      {{"user", ""}},
      {{"user", "a"}, {"user", "b"}},
      {{"assistant", ""}, {"assistant", ""}},
  };
  for (auto family : {ChatTemplateFamily::kFallback, ChatTemplateFamily::kLlama2,
                      ChatTemplateFamily::kLlama3, ChatTemplateFamily::kChatMl,
                      ChatTemplateFamily::kMistral, ChatTemplateFamily::kZephyr, ChatTemplateFamily::kPhi3,
                      ChatTemplateFamily::kGemma}) {
    for (const auto& messages : odd) {
      EXPECT_FALSE(render_chat(family, messages).empty()) << chat_template_family_name(family);
    }
  }
}

}  // namespace
}  // namespace tokengrid::serve
