#include "serve/chat_template.h"

namespace tokengrid::serve {

using http::ChatMessage;

namespace {

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// All system messages joined, and the other messages in order.
std::string system_text(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const ChatMessage& m : messages) {
    if (m.role != "system") continue;
    if (!out.empty()) out += "\n\n";
    out += trim(m.content);
  }
  return out;
}

std::string render_llama2(const std::vector<ChatMessage>& messages) {
  std::string system = system_text(messages);
  std::string out;
  bool first_user = true;
  auto open_turn = [&](const std::string& user) {
    if (!out.empty()) out += "<s>";
    out += "[INST] ";
    if (first_user && !system.empty()) out += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
    first_user = false;
    out += user + " [/INST]";
  };
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      open_turn(trim(m.content));
    } else if (m.role == "assistant") {
      if (out.empty()) open_turn("");
      out += " " + trim(m.content) + " </s>";
    }
  }
  if (out.empty() || (out.size() >= 4 && out.compare(out.size() - 4, 4, "</s>") == 0)) {
    open_turn("");
  }
  return out;
}

std::string render_mistral(const std::vector<ChatMessage>& messages) {
  std::string system = system_text(messages);
  std::string out;
  bool first_user = true;
  bool awaiting_answer = false;
  auto open_turn = [&](const std::string& user) {
    out += "[INST] ";
    if (first_user && !system.empty()) out += system + "\n\n";
    first_user = false;
    out += user + " [/INST]";
    awaiting_answer = true;
  };
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      open_turn(trim(m.content));
    } else if (m.role == "assistant") {
      if (!awaiting_answer) open_turn("");
      out += trim(m.content) + "</s>";
      awaiting_answer = false;
    }
  }
  if (!awaiting_answer) open_turn("");
  return out;
}

std::string render_llama3(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) +
           "<|eot_id|>";
  }
  out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string render_chatml(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  out += "<|im_start|>assistant\n";
  return out;
}

std::string render_zephyr(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
  }
  out += "<|assistant|>\n";
  return out;
}

std::string render_phi3(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
  }
  out += "<|assistant|>\n";
  return out;
}

std::string render_gemma(const std::vector<ChatMessage>& messages) {
  std::string system = system_text(messages);
  std::string out;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") continue;
    std::string content = trim(m.content);
    if (m.role == "user" && !system.empty()) {
      content = system + "\n\n" + content;
      system.clear();
    }
    out += "<start_of_turn>" + std::string(m.role == "assistant" ? "model" : m.role) + "\n" + content + "<end_of_turn>\n";
  }
  if (!system.empty()) out += "<start_of_turn>user\n" + system + "<end_of_turn>\n";
  out += "<start_of_turn>model\n";
  return out;
}

std::string render_fallback(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const ChatMessage& m : messages) {
    const char* speaker = m.role == "system" ? "System" : m.role == "user" ? "User" : "Assistant";
    out += std::string(speaker) + ": " + trim(m.content) + "\n";
  }
  out += "Assistant:";
  return out;
}

}  // namespace

const char* chat_template_family_name(ChatTemplateFamily family) {
  switch (family) {
    case ChatTemplateFamily::kFallback: return "fallback transcript";
    case ChatTemplateFamily::kLlama2: return "llama2";
    case ChatTemplateFamily::kLlama3: return "llama3";
    case ChatTemplateFamily::kChatMl: return "chatml";
    case ChatTemplateFamily::kMistral: return "mistral";
    case ChatTemplateFamily::kZephyr: return "zephyr";
    case ChatTemplateFamily::kPhi3: return "phi3";
    case ChatTemplateFamily::kGemma: return "gemma";
  }
  return "unknown";
}

ChatTemplateFamily detect_chat_template(std::string_view t) {
  if (contains(t, "<|start_header_id|>") && contains(t, "<|end_header_id|>")) {
    return ChatTemplateFamily::kLlama3;
  }
  if (contains(t, "<|im_start|>")) return ChatTemplateFamily::kChatMl;
  if (contains(t, "<start_of_turn>")) return ChatTemplateFamily::kGemma;
  // Phi-3 shares <|user|> and <|assistant|> with Zephyr but ends turns with <|end|>.
  if (contains(t, "<|user|>") && contains(t, "<|assistant|>")) {
    return contains(t, "<|end|>") ? ChatTemplateFamily::kPhi3 : ChatTemplateFamily::kZephyr;
  }
  if (contains(t, "[INST]") && contains(t, "[/INST]")) {
    return contains(t, "<<SYS>>") ? ChatTemplateFamily::kLlama2 : ChatTemplateFamily::kMistral;
  }
  return ChatTemplateFamily::kFallback;
}

std::string render_chat(ChatTemplateFamily family, const std::vector<ChatMessage>& messages) {
  switch (family) {
    case ChatTemplateFamily::kLlama2: return render_llama2(messages);
    case ChatTemplateFamily::kLlama3: return render_llama3(messages);
    case ChatTemplateFamily::kChatMl: return render_chatml(messages);
    case ChatTemplateFamily::kMistral: return render_mistral(messages);
    case ChatTemplateFamily::kZephyr: return render_zephyr(messages);
    case ChatTemplateFamily::kPhi3: return render_phi3(messages);
    case ChatTemplateFamily::kGemma: return render_gemma(messages);
    case ChatTemplateFamily::kFallback: break;
  }
  return render_fallback(messages);
}

std::vector<std::string> chat_stop_sequences(ChatTemplateFamily family) {
  switch (family) {
    case ChatTemplateFamily::kLlama3: return {"<|eot_id|>"};
    case ChatTemplateFamily::kChatMl: return {"<|im_end|>"};
    case ChatTemplateFamily::kPhi3: return {"<|end|>"};
    case ChatTemplateFamily::kGemma: return {"<end_of_turn>"};
    case ChatTemplateFamily::kFallback: return {"\nUser:"};
    default: return {};
  }
}

}  // namespace tokengrid::serve
