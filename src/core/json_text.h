#pragma once
// JSON text of the program's outputs (classify/library --format json, the
// run's and the export's cards, embeddings.json, results). Paths and names
// come from the file system, which holds any bytes: a file name with byte
// 0xFF made nlohmann's dump throw type_error.316 and lose the whole output.
// Bytes that are not UTF-8 are written as U+FFFD instead; everything else is
// written as nlohmann's dump writes it.
#include <string>

#include <nlohmann/json.hpp>

namespace oneshot {

// J as JSON text: INDENT spaces per level, or one line when INDENT is -1
// (nlohmann::json::dump's convention). Never throws for invalid UTF-8.
inline std::string json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace oneshot
