#pragma once
// RUN/report.html: one self-contained page (styles inline, figures embedded as
// base64 data URIs, no scripts, no links) that opens in a browser with no server.
#include <filesystem>
#include <string>

namespace oneshot {

// Builds the page from the run directory's files, each section only when its
// file exists: a summary of every results/*.json, the data (run.json), the
// split (split.json), training metrics (metrics.csv) with the training curves,
// each result's tables and figures, other figures (embeddings), and the
// configuration (config.toml). Written atomically; returns its path.
std::filesystem::path write_report(const std::filesystem::path& run_dir);

// Standard base64 (RFC 4648) with padding.
std::string base64_encode(const std::string& bytes);

// Escapes & < > " ' for HTML text and attributes.
std::string html_escape(const std::string& text);

}  // namespace oneshot
