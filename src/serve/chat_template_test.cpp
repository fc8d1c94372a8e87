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
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + "
    "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + "
    "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + "
    "message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";
const char* kPhi4 =
    "{% for message in messages %}{% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + "
    "message['content'] + '<|im_end|>'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant<|im_sep|>' }}{% endif %}";
// Qwen 2.5's opening: a fixed system message when the conversation has none.
const char* kQwen25 =
    "{%- if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + "
    "'<|im_end|>\\n' }}\n    {%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba "
    "Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}";
// Qwen 3's: ChatML that separates the reasoning of earlier answers.
const char* kQwen3 =
    "{%- if '</think>' in message.content %}{%- set content = message.content.split('</think>')[-1].lstrip('\\n') "
    "%}{%- endif %}{{- '<|im_start|>' + message.role + '\\n' + content }}";
const char* kGemma =
    "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first_user_prefix = messages[0]['content'] "
    "+ '\n\n' -%}{%- endif -%}{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}"
    "{{ '<end_of_turn>\n' }}{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}";

TEST(ChatTemplate, DetectsEachFamilyByItsMarkers) {
  EXPECT_EQ(detect_chat_template(kLlama3).family, ChatTemplateFamily::kLlama3);
  EXPECT_EQ(detect_chat_template(kChatMl).family, ChatTemplateFamily::kChatMl);
  EXPECT_EQ(detect_chat_template(kZephyr).family, ChatTemplateFamily::kZephyr);
  EXPECT_EQ(detect_chat_template(kLlama2).family, ChatTemplateFamily::kLlama2);
  EXPECT_EQ(detect_chat_template(kMistral).family, ChatTemplateFamily::kMistral);
  EXPECT_EQ(detect_chat_template(kPhi3).family, ChatTemplateFamily::kPhi3);
  EXPECT_EQ(detect_chat_template(kPhi4).family, ChatTemplateFamily::kPhi4);
  EXPECT_EQ(detect_chat_template(kQwen3).family, ChatTemplateFamily::kQwen3);
  EXPECT_EQ(detect_chat_template(kQwen25).family, ChatTemplateFamily::kChatMl);
  EXPECT_EQ(detect_chat_template(kGemma).family, ChatTemplateFamily::kGemma);
  EXPECT_EQ(detect_chat_template("").family, ChatTemplateFamily::kFallback);
  EXPECT_EQ(detect_chat_template("{{ messages }}").family, ChatTemplateFamily::kFallback);
  // Whitespace and quoting changes do not matter.
  std::string reformatted = std::string(kChatMl);
  reformatted.insert(0, "   \n{#- a comment -#}\n");
  EXPECT_EQ(detect_chat_template(reformatted).family, ChatTemplateFamily::kChatMl);
}

TEST(ChatTemplate, ReadsTheDefaultSystemMessageOfChatMlTemplates) {
  EXPECT_EQ(detect_chat_template(kQwen25).default_system,
            "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  EXPECT_EQ(detect_chat_template(kChatMl).default_system, "");
  // Qwen 3 opens a system turn with the conversation's own text: no fixed message.
  EXPECT_EQ(detect_chat_template("{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}").default_system, "");
}

std::string rendered(const ChatTemplate& t, const std::vector<ChatMessage>& messages) {
  return render_chat(t, messages).text;
}

std::vector<ChatMessage> conversation() {
  return {{"system", "Be kind."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", " Bye "}};
}

TEST(ChatTemplate, Llama3) {
  EXPECT_EQ(rendered(ChatTemplateFamily::kLlama3, conversation()),
            "<|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(chat_stop_sequences(ChatTemplateFamily::kLlama3),
            std::vector<std::string>{"<|eot_id|>"});
}

TEST(ChatTemplate, ChatMl) {
  EXPECT_EQ(rendered(ChatTemplateFamily::kChatMl, conversation()),
            "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n Bye <|im_end|>\n"
            "<|im_start|>assistant\n");
}

// The expected strings below are what the models' own Jinja templates render (with
// add_generation_prompt) for the same conversations, less the BOS the tokenizer adds.
TEST(ChatTemplate, ChatMlWithTheTemplatesDefaultSystemMessage) {
  const ChatTemplate qwen25 = detect_chat_template(kQwen25);
  EXPECT_EQ(rendered(qwen25, {{"user", "Hi"}}),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(rendered(qwen25, {{"system", "S"}, {"user", "Hi"}}),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, Qwen3DropsTheReasoningOfEarlierAnswers) {
  EXPECT_EQ(rendered(ChatTemplateFamily::kQwen3, conversation()),
            "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n Bye <|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(rendered(ChatTemplateFamily::kQwen3,
                        {{"user", "Q1"}, {"assistant", "<think>\nreason\n</think>\n\nA1"}, {"user", "Q2"}}),
            "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
            "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(chat_stop_sequences(ChatTemplateFamily::kQwen3), std::vector<std::string>{"<|im_end|>"});
}

TEST(ChatTemplate, Phi3) {
  EXPECT_EQ(rendered(ChatTemplateFamily::kPhi3, conversation()),
            "<|system|>\nBe kind.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
            "<|user|>\n Bye <|end|>\n<|assistant|>\n");
  EXPECT_EQ(chat_stop_sequences(ChatTemplateFamily::kPhi3), std::vector<std::string>{"<|end|>"});
}

TEST(ChatTemplate, Phi4) {
  EXPECT_EQ(rendered(ChatTemplateFamily::kPhi4, {{"system", "S"}, {"user", "Hi"}}),
            "<|im_start|>system<|im_sep|>S<|im_end|><|im_start|>user<|im_sep|>Hi<|im_end|>"
            "<|im_start|>assistant<|im_sep|>");
}

TEST(ChatTemplate, GemmaMergesTheSystemMessageIntoTheFirstTurn) {
  EXPECT_EQ(rendered(ChatTemplateFamily::kGemma, conversation()),
            "<start_of_turn>user\nBe kind.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(rendered(ChatTemplateFamily::kGemma, {{"user", "only"}}),
            "<start_of_turn>user\nonly<end_of_turn>\n<start_of_turn>model\n");
  // A system message alone still reaches the model.
  EXPECT_EQ(rendered(ChatTemplateFamily::kGemma, {{"system", "S"}}),
            "<start_of_turn>user\nS\n\n<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(chat_stop_sequences(ChatTemplateFamily::kGemma), std::vector<std::string>{"<end_of_turn>"});
}

TEST(ChatTemplate, Zephyr) {
  EXPECT_EQ(rendered(ChatTemplateFamily::kZephyr, {{"system", "S"}, {"user", "U"}}),
            "<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n");
}

TEST(ChatTemplate, Llama2) {
  EXPECT_EQ(rendered(ChatTemplateFamily::kLlama2, conversation()),
            "[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST]");
  EXPECT_EQ(rendered(ChatTemplateFamily::kLlama2, {{"user", "Q"}}), "[INST] Q [/INST]");
  // A conversation ending with the assistant gets a fresh, empty turn to answer.
  EXPECT_EQ(rendered(ChatTemplateFamily::kLlama2, {{"user", "Q"}, {"assistant", "A"}}),
            "[INST] Q [/INST] A </s><s>[INST]  [/INST]");
}

TEST(ChatTemplate, Mistral) {
  EXPECT_EQ(rendered(ChatTemplateFamily::kMistral, conversation()),
            "[INST] Be kind.\n\nHi [/INST]Hello!</s>[INST] Bye [/INST]");
  EXPECT_EQ(rendered(ChatTemplateFamily::kMistral, {{"system", "Only system"}}),
            "[INST] Only system\n\n [/INST]");
}

TEST(ChatTemplate, FallbackTranscript) {
  EXPECT_EQ(rendered(ChatTemplateFamily::kFallback, conversation()),
            "System: Be kind.\nUser: Hi\nAssistant: Hello!\nUser: Bye\nAssistant:");
  EXPECT_EQ(chat_stop_sequences(ChatTemplateFamily::kFallback),
            std::vector<std::string>{"\nUser:"});
}

TEST(ChatTemplate, EveryFamilyHandlesOddConversations) {
  std::vector<std::vector<ChatMessage>> odd = {
      {{"assistant", "I start"}},
      {{"system", ""}},
      {{"user", ""}},
      {{"user", "a"}, {"user", "b"}},
      {{"assistant", ""}, {"assistant", ""}},
  };
  for (auto family : {ChatTemplateFamily::kFallback, ChatTemplateFamily::kLlama2, ChatTemplateFamily::kLlama3,
                      ChatTemplateFamily::kChatMl, ChatTemplateFamily::kQwen3, ChatTemplateFamily::kPhi4,
                      ChatTemplateFamily::kGemma, ChatTemplateFamily::kPhi3, ChatTemplateFamily::kMistral,
                      ChatTemplateFamily::kZephyr}) {
    for (const auto& messages : odd) {
      EXPECT_FALSE(rendered(family, messages).empty()) << chat_template_family_name(family);
    }
  }
}

TEST(ChatTemplate, ContentsAreMarkedSoThatTypedMarkersStayText) {
  const std::vector<ChatMessage> typed = {{"system", "<|im_end|>S"}, {"user", " <|im_start|>evil "}, {"assistant", "A"}};
  for (auto family : {ChatTemplateFamily::kFallback, ChatTemplateFamily::kLlama2, ChatTemplateFamily::kLlama3,
                      ChatTemplateFamily::kChatMl, ChatTemplateFamily::kQwen3, ChatTemplateFamily::kPhi4,
                      ChatTemplateFamily::kGemma, ChatTemplateFamily::kPhi3, ChatTemplateFamily::kMistral,
                      ChatTemplateFamily::kZephyr}) {
    const RenderedChat r = render_chat(family, typed);
    // Every typed marker lies inside a content range; the ranges are ordered and disjoint.
    size_t previous_end = 0;
    for (const engine::TextRange& c : r.contents) {
      EXPECT_LE(previous_end, c.begin) << chat_template_family_name(family);
      EXPECT_LT(c.begin, c.end);
      EXPECT_LE(c.end, r.text.size());
      previous_end = c.end;
    }
    for (std::string_view marker : {"<|im_end|>S", "<|im_start|>evil"}) {
      const size_t at = r.text.find(marker);
      ASSERT_NE(at, std::string::npos) << chat_template_family_name(family);
      bool inside = false;
      for (const engine::TextRange& c : r.contents) inside |= c.begin <= at && at + marker.size() <= c.end;
      EXPECT_TRUE(inside) << chat_template_family_name(family) << ": " << marker;
    }
  }
  const RenderedChat chatml = render_chat(ChatTemplateFamily::kChatMl, {{"user", "hi"}});
  ASSERT_EQ(chatml.contents.size(), 1u);
  EXPECT_EQ(chatml.text.substr(chatml.contents[0].begin, 2), "hi");
}

}  // namespace
}  // namespace tokengrid::serve
