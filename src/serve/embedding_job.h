// POST /v1/embeddings: every input becomes an engine embedding request (RequestKind::kEmbed),
// all submitted together so that the engine computes them in the same batches; the answer
// goes out when every one is pooled.
//
// Guarantees:
//   - Inputs are checked before anything runs: each non-empty, inside the vocabulary and the
//     context; `dimensions` other than the model's is a 400 unless the model is matryoshka
//     capable (its GGUF lists llama.matryoshka_dimensions), where each vector is cut to that
//     many values and scaled back to unit length.
//   - The same input gives the same vector whatever else is in the request or the engine.
//   - A client that leaves cancels every request it still has in the engine.
#pragma once

#include <memory>

#include "http/http_message.h"
#include "http/openai_protocol.h"
#include "serve/openai_service.h"

namespace tokengrid::serve {

void answer_embeddings(std::shared_ptr<http::HttpExchange> exchange, const ServedModel& model,
                       const http::EmbeddingRequest& request);

}  // namespace tokengrid::serve
