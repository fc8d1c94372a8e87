#include "serve/chat_template.h"

#include <algorithm>

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

// The prompt being written: markup, which the server writes and whose special-token markers
// count, and contents, which the client sent and which stay plain text.
class Prompt {
 public:
  Prompt& markup(std::string_view s) {
    out_.text += s;
    return *this;
  }
  Prompt& content(std::string_view s) {
    if (!s.empty()) out_.contents.push_back({out_.text.size(), out_.text.size() + s.size()});
    out_.text += s;
    return *this;
  }
  bool empty() const { return out_.text.empty(); }
  bool ends_with(std::string_view s) const { return out_.text.ends_with(s); }
  RenderedChat take() { return std::move(out_); }

 private:
  RenderedChat out_;
};

RenderedChat render_llama2(const std::vector<ChatMessage>& messages) {
  const std::string system = system_text(messages);
  Prompt p;
  bool first_user = true;
  auto open_turn = [&](const std::string& user) {
    if (!p.empty()) p.markup("<s>");
    p.markup("[INST] ");
    if (first_user && !system.empty()) p.markup("<<SYS>>\n").content(system).markup("\n<</SYS>>\n\n");
    first_user = false;
    p.content(user).markup(" [/INST]");
  };
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      open_turn(trim(m.content));
    } else if (m.role == "assistant") {
      if (p.empty()) open_turn("");
      p.markup(" ").content(trim(m.content)).markup(" </s>");
    }
  }
  if (p.empty() || p.ends_with("</s>")) open_turn("");
  return p.take();
}

RenderedChat render_mistral(const std::vector<ChatMessage>& messages) {
  const std::string system = system_text(messages);
  Prompt p;
  bool first_user = true;
  bool awaiting_answer = false;
  auto open_turn = [&](const std::string& user) {
    p.markup("[INST] ");
    if (first_user && !system.empty()) p.content(system).markup("\n\n");
    first_user = false;
    p.content(user).markup(" [/INST]");
    awaiting_answer = true;
  };
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      open_turn(trim(m.content));
    } else if (m.role == "assistant") {
      if (!awaiting_answer) open_turn("");
      p.content(trim(m.content)).markup("</s>");
      awaiting_answer = false;
    }
  }
  if (!awaiting_answer) open_turn("");
  return p.take();
}

RenderedChat render_llama3(const std::vector<ChatMessage>& messages) {
  Prompt p;
  for (const ChatMessage& m : messages) {
    p.markup("<|start_header_id|>" + m.role + "<|end_header_id|>\n\n").content(trim(m.content)).markup("<|eot_id|>");
  }
  p.markup("<|start_header_id|>assistant<|end_header_id|>\n\n");
  return p.take();
}

void chatml_turn(Prompt& p, const std::string& role, std::string_view content) {
  p.markup("<|im_start|>" + role + "\n").content(content).markup("<|im_end|>\n");
}

RenderedChat render_chatml(const std::vector<ChatMessage>& messages, const std::string& default_system) {
  Prompt p;
  if (!default_system.empty() && (messages.empty() || messages.front().role != "system")) {
    p.markup("<|im_start|>system\n" + default_system + "<|im_end|>\n");
  }
  for (const ChatMessage& m : messages) chatml_turn(p, m.role, m.content);
  p.markup("<|im_start|>assistant\n");
  return p.take();
}

// Qwen 3: answers before the last user message keep only what follows their reasoning.
RenderedChat render_qwen3(const std::vector<ChatMessage>& messages) {
  size_t last_user = messages.size();
  for (size_t i = messages.size(); i-- > 0;) {
    if (messages[i].role == "user") {
      last_user = i;
      break;
    }
  }
  Prompt p;
  for (size_t i = 0; i < messages.size(); ++i) {
    std::string_view content = messages[i].content;
    if (messages[i].role == "assistant" && i < last_user) {
      if (size_t end = content.rfind("</think>"); end != std::string_view::npos) {
        content.remove_prefix(end + std::string_view("</think>").size());
        content.remove_prefix(std::min(content.find_first_not_of('\n'), content.size()));
      }
    }
    chatml_turn(p, messages[i].role, content);
  }
  p.markup("<|im_start|>assistant\n");
  return p.take();
}

RenderedChat render_phi4(const std::vector<ChatMessage>& messages) {
  Prompt p;
  for (const ChatMessage& m : messages) {
    p.markup("<|im_start|>" + m.role + "<|im_sep|>").content(m.content).markup("<|im_end|>");
  }
  p.markup("<|im_start|>assistant<|im_sep|>");
  return p.take();
}

// Zephyr and Phi-3: <|role|>\ncontent, then the family's end of turn.
RenderedChat render_role_tags(const std::vector<ChatMessage>& messages, std::string_view end_of_turn) {
  Prompt p;
  for (const ChatMessage& m : messages) {
    p.markup("<|" + m.role + "|>\n").content(m.content).markup(end_of_turn).markup("\n");
  }
  p.markup("<|assistant|>\n");
  return p.take();
}

// Gemma has no system role: the system text, then a blank line, opens the first turn.
RenderedChat render_gemma(const std::vector<ChatMessage>& messages) {
  std::string prefix;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") prefix += m.content + "\n\n";
  }
  Prompt p;
  auto turn = [&](const std::string& role, std::string_view content) {
    p.markup("<start_of_turn>" + role + "\n").content(prefix + trim(content)).markup("<end_of_turn>\n");
    prefix.clear();
  };
  for (const ChatMessage& m : messages) {
    if (m.role != "system") turn(m.role == "assistant" ? "model" : m.role, m.content);
  }
  if (!prefix.empty()) turn("user", "");
  p.markup("<start_of_turn>model\n");
  return p.take();
}

RenderedChat render_fallback(const std::vector<ChatMessage>& messages) {
  Prompt p;
  for (const ChatMessage& m : messages) {
    const char* speaker = m.role == "system" ? "System" : m.role == "user" ? "User" : "Assistant";
    p.markup(std::string(speaker) + ": ").content(trim(m.content)).markup("\n");
  }
  p.markup("Assistant:");
  return p.take();
}

// The system message a ChatML template writes when the conversation brings none: the literal
// text of a '<|im_start|>system\n...<|im_end|>' string in it, if there is one.
std::string chatml_default_system(std::string_view t) {
  for (std::string_view newline : {"\\n", "\n"}) {
    const std::string open = "<|im_start|>system" + std::string(newline);
    for (size_t at = t.find(open); at != std::string_view::npos; at = t.find(open, at + 1)) {
      const size_t begin = at + open.size();
      const size_t end = t.find("<|im_end|>", begin);
      if (end == std::string_view::npos) break;
      const std::string_view text = t.substr(begin, end - begin);
      if (!text.empty() && text.find_first_of("'\"{}+\n\\") == std::string_view::npos) return std::string(text);
    }
  }
  return {};
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
    case ChatTemplateFamily::kQwen3: return "qwen3";
    case ChatTemplateFamily::kPhi4: return "phi4";
    case ChatTemplateFamily::kGemma: return "gemma";
    case ChatTemplateFamily::kPhi3: return "phi3";
  }
  return "unknown";
}

ChatTemplate detect_chat_template(std::string_view t) {
  if (contains(t, "<|start_header_id|>") && contains(t, "<|end_header_id|>")) {
    return ChatTemplateFamily::kLlama3;
  }
  if (contains(t, "<|im_start|>")) {
    if (contains(t, "<|im_sep|>")) return ChatTemplateFamily::kPhi4;
    if (contains(t, "</think>")) return ChatTemplateFamily::kQwen3;
    return {ChatTemplateFamily::kChatMl, chatml_default_system(t)};
  }
  if (contains(t, "<start_of_turn>")) return ChatTemplateFamily::kGemma;
  if (contains(t, "<|user|>") && contains(t, "<|assistant|>")) {
    return contains(t, "<|end|>") ? ChatTemplateFamily::kPhi3 : ChatTemplateFamily::kZephyr;
  }
  if (contains(t, "[INST]") && contains(t, "[/INST]")) {
    return contains(t, "<<SYS>>") ? ChatTemplateFamily::kLlama2 : ChatTemplateFamily::kMistral;
  }
  return ChatTemplateFamily::kFallback;
}

RenderedChat render_chat(const ChatTemplate& chat_template, const std::vector<ChatMessage>& messages) {
  switch (chat_template.family) {
    case ChatTemplateFamily::kLlama2: return render_llama2(messages);
    case ChatTemplateFamily::kLlama3: return render_llama3(messages);
    case ChatTemplateFamily::kChatMl: return render_chatml(messages, chat_template.default_system);
    case ChatTemplateFamily::kQwen3: return render_qwen3(messages);
    case ChatTemplateFamily::kPhi4: return render_phi4(messages);
    case ChatTemplateFamily::kGemma: return render_gemma(messages);
    case ChatTemplateFamily::kPhi3: return render_role_tags(messages, "<|end|>");
    case ChatTemplateFamily::kMistral: return render_mistral(messages);
    case ChatTemplateFamily::kZephyr: return render_role_tags(messages, "</s>");
    case ChatTemplateFamily::kFallback: break;
  }
  return render_fallback(messages);
}

std::vector<std::string> chat_stop_sequences(ChatTemplateFamily family) {
  switch (family) {
    case ChatTemplateFamily::kLlama3: return {"<|eot_id|>"};
    case ChatTemplateFamily::kChatMl:
    case ChatTemplateFamily::kQwen3:
    case ChatTemplateFamily::kPhi4: return {"<|im_end|>"};
    case ChatTemplateFamily::kGemma: return {"<end_of_turn>"};
    case ChatTemplateFamily::kPhi3: return {"<|end|>"};
    case ChatTemplateFamily::kFallback: return {"\nUser:"};
    default: return {};
  }
}

}  // namespace tokengrid::serve
